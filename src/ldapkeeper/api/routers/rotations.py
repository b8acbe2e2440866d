"""LDAP password rotations under ``/api/v2/secret-rotations`` (Infisical's paths).

Handlers answer with `model_response` (their model is the route's response schema, so
FastAPI need not validate it again in another threadpool hand-off).
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Response

from ldapkeeper.api.deps import CallerDep, ContextDep, PrincipalDep, RuntimeDep
from ldapkeeper.api.responses import model_response
from ldapkeeper.rotations import service
from ldapkeeper.rotations.schemas import (
    GeneratedCredentials,
    RotationCreate,
    RotationHistory,
    RotationList,
    RotationOne,
    RotationOptions,
    RotationUpdate,
)

router = APIRouter(prefix="/api/v2/secret-rotations", tags=["secret-rotations"])
ProjectIdQuery = Annotated[str, Query(alias="projectId", min_length=1, max_length=64)]


@router.get("/options", response_model=RotationOptions)
def rotation_options(_principal: PrincipalDep) -> Response:
    """The rotation types this server offers."""
    return model_response(RotationOptions(secret_rotation_options=service.options()))


@router.get("", response_model=RotationList)
def list_all(runtime: RuntimeDep, principal: PrincipalDep, project_id: ProjectIdQuery) -> Response:
    """Every rotation of a project."""
    return model_response(
        RotationList(
            secret_rotations=runtime.rotations.list_rotations(
                principal=principal, project_id=project_id
            )
        )
    )


@router.get("/ldap-password", response_model=RotationList)
def list_ldap(runtime: RuntimeDep, principal: PrincipalDep, project_id: ProjectIdQuery) -> Response:
    """The LDAP password rotations of a project."""
    return model_response(
        RotationList(
            secret_rotations=runtime.rotations.list_rotations(
                principal=principal, project_id=project_id
            )
        )
    )


@router.get("/ldap-password/rotation-name/{name}", response_model=RotationOne)
def get_by_name(
    name: str,
    runtime: RuntimeDep,
    principal: PrincipalDep,
    project_id: ProjectIdQuery,
    environment: Annotated[str, Query(min_length=1, max_length=64)],
    secret_path: Annotated[str, Query(alias="secretPath", max_length=1024)] = "/",
) -> Response:
    """A rotation by its name at an environment and path."""
    return model_response(
        RotationOne(
            secret_rotation=runtime.rotations.get_by_name(
                principal=principal,
                project_id=project_id,
                environment=environment,
                secret_path=secret_path,
                name=name,
            )
        )
    )


@router.get("/ldap-password/{rotation_id}", response_model=RotationOne)
def get_rotation(rotation_id: str, runtime: RuntimeDep, principal: PrincipalDep) -> Response:
    """One rotation."""
    return model_response(
        RotationOne(
            secret_rotation=runtime.rotations.get(principal=principal, rotation_id=rotation_id)
        )
    )


@router.post("/ldap-password", response_model=RotationOne)
def create_rotation(
    body: RotationCreate, runtime: RuntimeDep, principal: PrincipalDep, context: ContextDep
) -> Response:
    """Create a rotation; it rotates the account's password at once."""
    return model_response(
        RotationOne(
            secret_rotation=runtime.rotations.create(
                principal=principal, body=body, context=context
            )
        )
    )


@router.patch("/ldap-password/{rotation_id}", response_model=RotationOne)
def update_rotation(
    rotation_id: str,
    body: RotationUpdate,
    runtime: RuntimeDep,
    principal: PrincipalDep,
    context: ContextDep,
) -> Response:
    """Change a rotation's name, schedule, requirements or secret names."""
    return model_response(
        RotationOne(
            secret_rotation=runtime.rotations.update(
                principal=principal, rotation_id=rotation_id, body=body, context=context
            )
        )
    )


@router.delete("/ldap-password/{rotation_id}", response_model=RotationOne)
def delete_rotation(
    rotation_id: str,
    runtime: RuntimeDep,
    principal: PrincipalDep,
    context: ContextDep,
    delete_secrets: Annotated[bool, Query(alias="deleteSecrets")] = False,
    revoke_generated_credentials: Annotated[
        bool, Query(alias="revokeGeneratedCredentials")
    ] = False,
) -> Response:
    """Delete a rotation (optionally its secrets, optionally locking the account out)."""
    return model_response(
        RotationOne(
            secret_rotation=runtime.rotations.delete(
                principal=principal,
                rotation_id=rotation_id,
                delete_secrets=delete_secrets,
                revoke_generated_credentials=revoke_generated_credentials,
                context=context,
            )
        )
    )


@router.get(
    "/ldap-password/{rotation_id}/generated-credentials", response_model=GeneratedCredentials
)
def generated_credentials(
    rotation_id: str, runtime: RuntimeDep, principal: PrincipalDep, context: ContextDep
) -> Response:
    """The current and previous generated credentials (needs read-generated-credentials)."""
    return model_response(
        runtime.rotations.generated_credentials(
            principal=principal, rotation_id=rotation_id, context=context
        )
    )


@router.post("/ldap-password/{rotation_id}/rotate-secrets", response_model=RotationOne)
def rotate_secrets(rotation_id: str, caller: CallerDep) -> Response:
    """Rotate now."""
    return model_response(
        RotationOne(
            secret_rotation=caller.runtime.rotations.rotate_now(
                principal=caller.principal, rotation_id=rotation_id, context=caller.context
            )
        )
    )


@router.get("/ldap-password/{rotation_id}/history", response_model=RotationHistory)
def rotation_history(rotation_id: str, runtime: RuntimeDep, principal: PrincipalDep) -> Response:
    """The attempts of a rotation, newest first (no secrets)."""
    return model_response(
        RotationHistory(
            history=runtime.rotations.history(principal=principal, rotation_id=rotation_id)
        )
    )
