import datetime

from google.protobuf import timestamp_pb2 as _timestamp_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf.internal import enum_type_wrapper as _enum_type_wrapper
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class JobState(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    JOB_STATE_UNSPECIFIED: _ClassVar[JobState]
    JOB_STATE_CREATED: _ClassVar[JobState]
    JOB_STATE_DONE: _ClassVar[JobState]
    JOB_STATE_FAILED: _ClassVar[JobState]
    JOB_STATE_OPTIMIZING_MODEL: _ClassVar[JobState]
    JOB_STATE_PROVISIONING_DEVICE: _ClassVar[JobState]
    JOB_STATE_MEASURING_PERFORMANCE: _ClassVar[JobState]
    JOB_STATE_RUNNING_INFERENCE: _ClassVar[JobState]
    JOB_STATE_QUANTIZING_MODEL: _ClassVar[JobState]
    JOB_STATE_LINKING_MODELS: _ClassVar[JobState]

class ArtifactType(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    ARTIFACT_TYPE_UNSPECIFIED: _ClassVar[ArtifactType]
    ARTIFACT_TYPE_DEVICE_LOG: _ClassVar[ArtifactType]
    ARTIFACT_TYPE_HUB_LOG: _ClassVar[ArtifactType]
    ARTIFACT_TYPE_PROFILE_TRACE: _ClassVar[ArtifactType]
    ARTIFACT_TYPE_NETRON_VIZ_ARCHIVE: _ClassVar[ArtifactType]
    ARTIFACT_TYPE_QHAS_SUMMARY: _ClassVar[ArtifactType]
JOB_STATE_UNSPECIFIED: JobState
JOB_STATE_CREATED: JobState
JOB_STATE_DONE: JobState
JOB_STATE_FAILED: JobState
JOB_STATE_OPTIMIZING_MODEL: JobState
JOB_STATE_PROVISIONING_DEVICE: JobState
JOB_STATE_MEASURING_PERFORMANCE: JobState
JOB_STATE_RUNNING_INFERENCE: JobState
JOB_STATE_QUANTIZING_MODEL: JobState
JOB_STATE_LINKING_MODELS: JobState
ARTIFACT_TYPE_UNSPECIFIED: ArtifactType
ARTIFACT_TYPE_DEVICE_LOG: ArtifactType
ARTIFACT_TYPE_HUB_LOG: ArtifactType
ARTIFACT_TYPE_PROFILE_TRACE: ArtifactType
ARTIFACT_TYPE_NETRON_VIZ_ARCHIVE: ArtifactType
ARTIFACT_TYPE_QHAS_SUMMARY: ArtifactType

class Device(_message.Message):
    __slots__ = ("name", "os", "attributes")
    NAME_FIELD_NUMBER: _ClassVar[int]
    OS_FIELD_NUMBER: _ClassVar[int]
    ATTRIBUTES_FIELD_NUMBER: _ClassVar[int]
    name: str
    os: str
    attributes: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, name: _Optional[str] = ..., os: _Optional[str] = ..., attributes: _Optional[_Iterable[str]] = ...) -> None: ...

class ModelRef(_message.Message):
    __slots__ = ("model_id", "name")
    MODEL_ID_FIELD_NUMBER: _ClassVar[int]
    NAME_FIELD_NUMBER: _ClassVar[int]
    model_id: str
    name: str
    def __init__(self, model_id: _Optional[str] = ..., name: _Optional[str] = ...) -> None: ...

class ModelInput(_message.Message):
    __slots__ = ("path", "model_id")
    PATH_FIELD_NUMBER: _ClassVar[int]
    MODEL_ID_FIELD_NUMBER: _ClassVar[int]
    path: str
    model_id: str
    def __init__(self, path: _Optional[str] = ..., model_id: _Optional[str] = ...) -> None: ...

class Job(_message.Message):
    __slots__ = ("job_id", "name", "state", "message", "creation_time", "device", "models", "options", "project_id", "url", "target_model_id", "available_artifacts", "last_refresh_time", "stale", "daemon_shutting_down")
    JOB_ID_FIELD_NUMBER: _ClassVar[int]
    NAME_FIELD_NUMBER: _ClassVar[int]
    STATE_FIELD_NUMBER: _ClassVar[int]
    MESSAGE_FIELD_NUMBER: _ClassVar[int]
    CREATION_TIME_FIELD_NUMBER: _ClassVar[int]
    DEVICE_FIELD_NUMBER: _ClassVar[int]
    MODELS_FIELD_NUMBER: _ClassVar[int]
    OPTIONS_FIELD_NUMBER: _ClassVar[int]
    PROJECT_ID_FIELD_NUMBER: _ClassVar[int]
    URL_FIELD_NUMBER: _ClassVar[int]
    TARGET_MODEL_ID_FIELD_NUMBER: _ClassVar[int]
    AVAILABLE_ARTIFACTS_FIELD_NUMBER: _ClassVar[int]
    LAST_REFRESH_TIME_FIELD_NUMBER: _ClassVar[int]
    STALE_FIELD_NUMBER: _ClassVar[int]
    DAEMON_SHUTTING_DOWN_FIELD_NUMBER: _ClassVar[int]
    job_id: str
    name: str
    state: JobState
    message: str
    creation_time: _timestamp_pb2.Timestamp
    device: Device
    models: _containers.RepeatedCompositeFieldContainer[ModelRef]
    options: str
    project_id: str
    url: str
    target_model_id: str
    available_artifacts: _containers.RepeatedScalarFieldContainer[ArtifactType]
    last_refresh_time: _timestamp_pb2.Timestamp
    stale: bool
    daemon_shutting_down: bool
    def __init__(self, job_id: _Optional[str] = ..., name: _Optional[str] = ..., state: _Optional[_Union[JobState, str]] = ..., message: _Optional[str] = ..., creation_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., device: _Optional[_Union[Device, _Mapping]] = ..., models: _Optional[_Iterable[_Union[ModelRef, _Mapping]]] = ..., options: _Optional[str] = ..., project_id: _Optional[str] = ..., url: _Optional[str] = ..., target_model_id: _Optional[str] = ..., available_artifacts: _Optional[_Iterable[_Union[ArtifactType, str]]] = ..., last_refresh_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., stale: bool = ..., daemon_shutting_down: bool = ...) -> None: ...

class SubmitLinkJobRequest(_message.Message):
    __slots__ = ("models", "device", "name", "options", "project_id", "request_id")
    MODELS_FIELD_NUMBER: _ClassVar[int]
    DEVICE_FIELD_NUMBER: _ClassVar[int]
    NAME_FIELD_NUMBER: _ClassVar[int]
    OPTIONS_FIELD_NUMBER: _ClassVar[int]
    PROJECT_ID_FIELD_NUMBER: _ClassVar[int]
    REQUEST_ID_FIELD_NUMBER: _ClassVar[int]
    models: _containers.RepeatedCompositeFieldContainer[ModelInput]
    device: str
    name: str
    options: str
    project_id: str
    request_id: str
    def __init__(self, models: _Optional[_Iterable[_Union[ModelInput, _Mapping]]] = ..., device: _Optional[str] = ..., name: _Optional[str] = ..., options: _Optional[str] = ..., project_id: _Optional[str] = ..., request_id: _Optional[str] = ...) -> None: ...

class GetJobRequest(_message.Message):
    __slots__ = ("job_id",)
    JOB_ID_FIELD_NUMBER: _ClassVar[int]
    job_id: str
    def __init__(self, job_id: _Optional[str] = ...) -> None: ...

class WaitJobRequest(_message.Message):
    __slots__ = ("job_id",)
    JOB_ID_FIELD_NUMBER: _ClassVar[int]
    job_id: str
    def __init__(self, job_id: _Optional[str] = ...) -> None: ...

class RefreshJobsRequest(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class RefreshJobsResponse(_message.Message):
    __slots__ = ("polled", "changed")
    POLLED_FIELD_NUMBER: _ClassVar[int]
    CHANGED_FIELD_NUMBER: _ClassVar[int]
    polled: int
    changed: int
    def __init__(self, polled: _Optional[int] = ..., changed: _Optional[int] = ...) -> None: ...

class DownloadTargetModelRequest(_message.Message):
    __slots__ = ("job_id", "destination")
    JOB_ID_FIELD_NUMBER: _ClassVar[int]
    DESTINATION_FIELD_NUMBER: _ClassVar[int]
    job_id: str
    destination: str
    def __init__(self, job_id: _Optional[str] = ..., destination: _Optional[str] = ...) -> None: ...

class ReadTargetModelRequest(_message.Message):
    __slots__ = ("job_id",)
    JOB_ID_FIELD_NUMBER: _ClassVar[int]
    job_id: str
    def __init__(self, job_id: _Optional[str] = ...) -> None: ...

class DownloadJobLogsRequest(_message.Message):
    __slots__ = ("job_id", "output_dir")
    JOB_ID_FIELD_NUMBER: _ClassVar[int]
    OUTPUT_DIR_FIELD_NUMBER: _ClassVar[int]
    job_id: str
    output_dir: str
    def __init__(self, job_id: _Optional[str] = ..., output_dir: _Optional[str] = ...) -> None: ...

class DownloadResponse(_message.Message):
    __slots__ = ("paths", "state")
    PATHS_FIELD_NUMBER: _ClassVar[int]
    STATE_FIELD_NUMBER: _ClassVar[int]
    paths: _containers.RepeatedScalarFieldContainer[str]
    state: JobState
    def __init__(self, paths: _Optional[_Iterable[str]] = ..., state: _Optional[_Union[JobState, str]] = ...) -> None: ...

class Chunk(_message.Message):
    __slots__ = ("data", "filename", "total_size")
    DATA_FIELD_NUMBER: _ClassVar[int]
    FILENAME_FIELD_NUMBER: _ClassVar[int]
    TOTAL_SIZE_FIELD_NUMBER: _ClassVar[int]
    data: bytes
    filename: str
    total_size: int
    def __init__(self, data: _Optional[bytes] = ..., filename: _Optional[str] = ..., total_size: _Optional[int] = ...) -> None: ...

class ListJobsRequest(_message.Message):
    __slots__ = ("states", "name_contains", "limit", "offset")
    STATES_FIELD_NUMBER: _ClassVar[int]
    NAME_CONTAINS_FIELD_NUMBER: _ClassVar[int]
    LIMIT_FIELD_NUMBER: _ClassVar[int]
    OFFSET_FIELD_NUMBER: _ClassVar[int]
    states: _containers.RepeatedScalarFieldContainer[JobState]
    name_contains: str
    limit: int
    offset: int
    def __init__(self, states: _Optional[_Iterable[_Union[JobState, str]]] = ..., name_contains: _Optional[str] = ..., limit: _Optional[int] = ..., offset: _Optional[int] = ...) -> None: ...

class ListJobsResponse(_message.Message):
    __slots__ = ("jobs", "total")
    JOBS_FIELD_NUMBER: _ClassVar[int]
    TOTAL_FIELD_NUMBER: _ClassVar[int]
    jobs: _containers.RepeatedCompositeFieldContainer[Job]
    total: int
    def __init__(self, jobs: _Optional[_Iterable[_Union[Job, _Mapping]]] = ..., total: _Optional[int] = ...) -> None: ...

class TrackJobRequest(_message.Message):
    __slots__ = ("job_id",)
    JOB_ID_FIELD_NUMBER: _ClassVar[int]
    job_id: str
    def __init__(self, job_id: _Optional[str] = ...) -> None: ...

class UntrackJobRequest(_message.Message):
    __slots__ = ("job_id",)
    JOB_ID_FIELD_NUMBER: _ClassVar[int]
    job_id: str
    def __init__(self, job_id: _Optional[str] = ...) -> None: ...

class UntrackJobResponse(_message.Message):
    __slots__ = ("was_tracked",)
    WAS_TRACKED_FIELD_NUMBER: _ClassVar[int]
    was_tracked: bool
    def __init__(self, was_tracked: bool = ...) -> None: ...

class SetJobNameRequest(_message.Message):
    __slots__ = ("job_id", "name")
    JOB_ID_FIELD_NUMBER: _ClassVar[int]
    NAME_FIELD_NUMBER: _ClassVar[int]
    job_id: str
    name: str
    def __init__(self, job_id: _Optional[str] = ..., name: _Optional[str] = ...) -> None: ...

class GetSharingRequest(_message.Message):
    __slots__ = ("job_id",)
    JOB_ID_FIELD_NUMBER: _ClassVar[int]
    job_id: str
    def __init__(self, job_id: _Optional[str] = ...) -> None: ...

class ModifySharingRequest(_message.Message):
    __slots__ = ("job_id", "add_emails", "delete_emails")
    JOB_ID_FIELD_NUMBER: _ClassVar[int]
    ADD_EMAILS_FIELD_NUMBER: _ClassVar[int]
    DELETE_EMAILS_FIELD_NUMBER: _ClassVar[int]
    job_id: str
    add_emails: _containers.RepeatedScalarFieldContainer[str]
    delete_emails: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, job_id: _Optional[str] = ..., add_emails: _Optional[_Iterable[str]] = ..., delete_emails: _Optional[_Iterable[str]] = ...) -> None: ...

class DisableSharingRequest(_message.Message):
    __slots__ = ("job_id",)
    JOB_ID_FIELD_NUMBER: _ClassVar[int]
    job_id: str
    def __init__(self, job_id: _Optional[str] = ...) -> None: ...

class Sharing(_message.Message):
    __slots__ = ("emails",)
    EMAILS_FIELD_NUMBER: _ClassVar[int]
    emails: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, emails: _Optional[_Iterable[str]] = ...) -> None: ...

class DownloadArtifactsRequest(_message.Message):
    __slots__ = ("job_id", "output_dir", "artifact_type")
    JOB_ID_FIELD_NUMBER: _ClassVar[int]
    OUTPUT_DIR_FIELD_NUMBER: _ClassVar[int]
    ARTIFACT_TYPE_FIELD_NUMBER: _ClassVar[int]
    job_id: str
    output_dir: str
    artifact_type: ArtifactType
    def __init__(self, job_id: _Optional[str] = ..., output_dir: _Optional[str] = ..., artifact_type: _Optional[_Union[ArtifactType, str]] = ...) -> None: ...

class GetTargetModelRequest(_message.Message):
    __slots__ = ("job_id",)
    JOB_ID_FIELD_NUMBER: _ClassVar[int]
    job_id: str
    def __init__(self, job_id: _Optional[str] = ...) -> None: ...

class TargetModel(_message.Message):
    __slots__ = ("present", "model_id", "name", "model_type", "creation_time", "url", "filename")
    PRESENT_FIELD_NUMBER: _ClassVar[int]
    MODEL_ID_FIELD_NUMBER: _ClassVar[int]
    NAME_FIELD_NUMBER: _ClassVar[int]
    MODEL_TYPE_FIELD_NUMBER: _ClassVar[int]
    CREATION_TIME_FIELD_NUMBER: _ClassVar[int]
    URL_FIELD_NUMBER: _ClassVar[int]
    FILENAME_FIELD_NUMBER: _ClassVar[int]
    present: bool
    model_id: str
    name: str
    model_type: int
    creation_time: _timestamp_pb2.Timestamp
    url: str
    filename: str
    def __init__(self, present: bool = ..., model_id: _Optional[str] = ..., name: _Optional[str] = ..., model_type: _Optional[int] = ..., creation_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., url: _Optional[str] = ..., filename: _Optional[str] = ...) -> None: ...

class GetDaemonInfoRequest(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class DaemonInfo(_message.Message):
    __slots__ = ("version", "hub_url", "web_url", "hub_kind", "tracked_jobs", "in_flight_jobs", "hub_reachable", "account_email", "cache_bytes", "hub_error", "hub_protocol_version", "hub_auth_state", "hub_auth_parked_since", "hub_auth_next_probe", "hub_paused_until")
    VERSION_FIELD_NUMBER: _ClassVar[int]
    HUB_URL_FIELD_NUMBER: _ClassVar[int]
    WEB_URL_FIELD_NUMBER: _ClassVar[int]
    HUB_KIND_FIELD_NUMBER: _ClassVar[int]
    TRACKED_JOBS_FIELD_NUMBER: _ClassVar[int]
    IN_FLIGHT_JOBS_FIELD_NUMBER: _ClassVar[int]
    HUB_REACHABLE_FIELD_NUMBER: _ClassVar[int]
    ACCOUNT_EMAIL_FIELD_NUMBER: _ClassVar[int]
    CACHE_BYTES_FIELD_NUMBER: _ClassVar[int]
    HUB_ERROR_FIELD_NUMBER: _ClassVar[int]
    HUB_PROTOCOL_VERSION_FIELD_NUMBER: _ClassVar[int]
    HUB_AUTH_STATE_FIELD_NUMBER: _ClassVar[int]
    HUB_AUTH_PARKED_SINCE_FIELD_NUMBER: _ClassVar[int]
    HUB_AUTH_NEXT_PROBE_FIELD_NUMBER: _ClassVar[int]
    HUB_PAUSED_UNTIL_FIELD_NUMBER: _ClassVar[int]
    version: str
    hub_url: str
    web_url: str
    hub_kind: str
    tracked_jobs: int
    in_flight_jobs: int
    hub_reachable: bool
    account_email: str
    cache_bytes: int
    hub_error: str
    hub_protocol_version: str
    hub_auth_state: str
    hub_auth_parked_since: _timestamp_pb2.Timestamp
    hub_auth_next_probe: _timestamp_pb2.Timestamp
    hub_paused_until: _timestamp_pb2.Timestamp
    def __init__(self, version: _Optional[str] = ..., hub_url: _Optional[str] = ..., web_url: _Optional[str] = ..., hub_kind: _Optional[str] = ..., tracked_jobs: _Optional[int] = ..., in_flight_jobs: _Optional[int] = ..., hub_reachable: bool = ..., account_email: _Optional[str] = ..., cache_bytes: _Optional[int] = ..., hub_error: _Optional[str] = ..., hub_protocol_version: _Optional[str] = ..., hub_auth_state: _Optional[str] = ..., hub_auth_parked_since: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., hub_auth_next_probe: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., hub_paused_until: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ...) -> None: ...
