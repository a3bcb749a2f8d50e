"""``Model``: a model on the Hub, read and downloaded through the daemon, like ``qai_hub.Model``."""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, Any

from aihubd_api.v1 import aihubd_pb2 as pb

from .channel import Call
from .destinations import check_download_destination
from .inputs import absolute_path, caller_style_path, check_sharing_change
from .kinds import SourceModelType
from .transport import Connection

if TYPE_CHECKING:
    from .job import LinkJob

__all__ = ["Model", "model_from_target"]


class Model:
    """A Hub model: an upload, or a link job's target model.

    Built by ``upload_model``, ``get_model``, ``get_models``, ``LinkJob.get_target_model()`` and
    ``LinkJob.models``. ``model_id`` and ``name`` are known at once; ``date``, ``model_type`` and
    ``url`` are read from the daemon on first use when the source did not carry them.
    """

    def __init__(
        self,
        connection: Connection,
        model_id: str,
        name: str = "",
        *,
        message: pb.HubModel | None = None,
        producer: LinkJob | None = None,
        verbose: bool = False,
    ) -> None:
        self._connection = connection
        self.model_id = model_id
        self.name = name
        self.verbose = verbose
        self._producer = producer
        self._message = message
        if message is not None:
            self.name = message.name or name

    def __repr__(self) -> str:
        return f"Model(model_id={self.model_id!r}, name={self.name!r})"

    # the official attributes

    @property
    def date(self) -> datetime | None:
        """When the model was created on the Hub (local time, like the official client)."""
        message = self._loaded()
        return datetime.fromtimestamp(message.creation_time.seconds) if message.HasField("creation_time") else None

    @property
    def model_type(self) -> SourceModelType:
        """The model's type (``QNN_DLC`` for uploads, ``QNN_CONTEXT_BINARY`` for a link's target)."""
        return SourceModelType(self._loaded().model_type)

    @property
    def url(self) -> str:
        """The model's page on the Hub website."""
        return self._loaded().url

    @property
    def producer(self) -> LinkJob | None:
        """The job that produced this model (as ``get_producer()``)."""
        return self.get_producer()

    def get_producer(self) -> LinkJob | None:
        """The link job that produced this model, or None for an uploaded model."""
        if self._producer is None:
            producer_id = self._loaded().producer_id
            if producer_id:
                from .job import LinkJob

                call = Call("GetJob", pb.GetJobRequest(job_id=producer_id), reply=self._job)
                self._producer = self._connection.unary(call)
                assert self._producer is None or isinstance(self._producer, LinkJob)
        return self._producer

    def wait(self, timeout: int | None = None) -> None:
        """Wait for the job producing this model to finish (nothing to wait for on an upload)."""
        producer = self._producer
        if producer is not None:
            producer.wait(timeout)

    # downloading and sharing

    def download(self, filename: str, timeout: int | None = None) -> str:
        """Write the model to ``filename`` by the official naming rules; returns the path written.

        A directory gets the Hub's filename (uniquified if taken); a file path gets the Hub
        filename's suffixes appended when missing. Goes through the daemon's cache (a target
        model once per job; an uploaded model once per id). Waits for the producing job first.
        """
        producer = self._producer
        if producer is not None and producer.target_model_id in (None, self.model_id):
            written = producer.download_target_model(filename, timeout)
            assert written is None or isinstance(written, str)
            if written is None:
                raise FileNotFoundError(f"job {producer.job_id} failed: it has no target model {self.model_id}")
            return written
        argument = check_download_destination(filename)
        destination = absolute_path(argument)

        def written_path(response: pb.DownloadResponse) -> str:
            return caller_style_path(argument, destination, response.paths[0])

        request = pb.DownloadModelRequest(model_id=self.model_id, destination=destination)
        return str(self._connection.unary(Call("DownloadModel", request, reply=written_path, service="catalog")))

    def get_sharing(self) -> list[str]:
        """The email addresses the model is shared with (read from the Hub)."""
        request = pb.GetModelSharingRequest(model_id=self.model_id)
        return list(self._connection.unary(Call("GetModelSharing", request, reply=_emails, service="catalog")))

    def modify_sharing(self, add_emails: list[str] | None = None, delete_emails: list[str] | None = None) -> None:
        """Share the model with more people, or fewer (checked like ``qai_hub`` first)."""
        add, delete = check_sharing_change(add_emails, delete_emails)
        request = pb.ModifyModelSharingRequest(model_id=self.model_id, add_emails=add, delete_emails=delete)
        self._connection.unary(Call("ModifyModelSharing", request, service="catalog"))

    def disable_sharing(self) -> None:
        """Stop sharing the model with anyone (jobs shared with them still show it)."""
        request = pb.DisableModelSharingRequest(model_id=self.model_id)
        self._connection.unary(Call("DisableModelSharing", request, service="catalog"))

    # plumbing

    def _loaded(self) -> pb.HubModel:
        if self._message is None:
            call: Call[pb.HubModel] = Call("GetModel", pb.GetModelRequest(model_id=self.model_id), service="catalog")
            self._message = self._connection.unary(call)
            assert self._message is not None
            self.name = self._message.name or self.name
        return self._message

    def _job(self, message: pb.Job) -> Any:
        from .job import LinkJob

        return LinkJob(message, self._connection)


def _emails(sharing: pb.Sharing) -> list[str]:
    return list(sharing.emails)


def model_from_target(connection: Connection, target: Any, producer: LinkJob, verbose: bool = False) -> Model:
    """The ``Model`` for a job's ``TargetModel`` value (everything it carries is kept)."""
    message = pb.HubModel(
        model_id=target.model_id,
        name=target.name,
        model_type=target.model_type,
        url=target.url,
        producer_id=producer.job_id,
    )
    if target.date is not None:
        message.creation_time.seconds = int(target.date.timestamp())
    return Model(connection, target.model_id, target.name, message=message, producer=producer, verbose=verbose)
