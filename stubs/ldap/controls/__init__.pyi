# Local type stubs for ldap.controls (python-ldap): the request controls the tests use.
class RequestControl:
    controlType: str
    criticality: bool

class ManageDSAITControl(RequestControl):
    def __init__(self, criticality: bool = ...) -> None: ...
