from tests.support.app import Api


def test_status_answers_without_a_token(api: Api) -> None:
    response = api.client.get("/api/status")
    assert response.status_code == 200
    assert response.json()["status"] == "ok"


def test_metrics_are_prometheus_text(api: Api) -> None:
    api.client.get("/api/status")
    response = api.client.get("/metrics")
    assert response.status_code == 200
    assert "ldapkeeper_http_requests_total" in response.text


def test_openapi_document_is_served(api: Api) -> None:
    assert api.client.get("/openapi.json").json()["info"]["title"] == "ldapkeeper"


def test_docs_page_is_served(api: Api) -> None:
    assert api.client.get("/docs").status_code == 200
