"""CatalogService: the Hub's models and devices through the daemon; calls plus conversion only."""

from __future__ import annotations

from aihubd_api.v1 import aihubd_pb2 as api
from aihubd_api.v1 import aihubd_pb2_grpc as api_grpc

from ..model import Device, ModelInfo
from ..services.devices import DeviceCatalog
from ..services.models import ModelService
from .context import Context
from .convert import timestamp
from .errors import rpc_errors

__all__ = ["CatalogServicer"]


class CatalogServicer(api_grpc.CatalogServiceServicer):
    def __init__(self, models: ModelService, devices: DeviceCatalog, web_url: str) -> None:
        self._models = models
        self._devices = devices
        self._web_url = web_url.rstrip("/")

    def _model(self, info: ModelInfo) -> api.HubModel:
        return api.HubModel(
            model_id=info.model_id,
            name=info.name,
            model_type=info.model_type,
            creation_time=timestamp(info.creation_time),
            url=f"{self._web_url}/models/{info.model_id}/",
            producer_id=info.producer_id,
        )

    async def UploadModel(self, request: api.UploadModelRequest, context: Context) -> api.HubModel:
        async with rpc_errors(context, "UploadModel"):
            return self._model(await self._models.upload(request.path, request.name, request.project_id))

    async def GetModel(self, request: api.GetModelRequest, context: Context) -> api.HubModel:
        async with rpc_errors(context, "GetModel"):
            return self._model(await self._models.get(request.model_id))

    async def ListModels(self, request: api.ListModelsRequest, context: Context) -> api.ListModelsResponse:
        async with rpc_errors(context, "ListModels"):
            found = await self._models.page(request.offset, request.limit, request.project_id)
            return api.ListModelsResponse(models=[self._model(m) for m in found])

    async def DownloadModel(self, request: api.DownloadModelRequest, context: Context) -> api.DownloadResponse:
        async with rpc_errors(context, "DownloadModel"):
            paths = await self._models.download(request.model_id, request.destination)
            return api.DownloadResponse(paths=paths, state=api.JOB_STATE_DONE)

    async def GetModelSharing(self, request: api.GetModelSharingRequest, context: Context) -> api.Sharing:
        async with rpc_errors(context, "GetModelSharing"):
            return api.Sharing(emails=await self._models.sharing(request.model_id))

    async def ModifyModelSharing(self, request: api.ModifyModelSharingRequest, context: Context) -> api.Sharing:
        async with rpc_errors(context, "ModifyModelSharing"):
            emails = await self._models.modify_sharing(
                request.model_id, list(request.add_emails), list(request.delete_emails)
            )
            return api.Sharing(emails=emails)

    async def DisableModelSharing(self, request: api.DisableModelSharingRequest, context: Context) -> api.Sharing:
        async with rpc_errors(context, "DisableModelSharing"):
            return api.Sharing(emails=await self._models.disable_sharing(request.model_id))

    async def GetDevices(self, request: api.GetDevicesRequest, context: Context) -> api.GetDevicesResponse:
        async with rpc_errors(context, "GetDevices"):
            found = await self._devices.devices(request.name, request.os, list(request.attributes))
            return api.GetDevicesResponse(devices=[_device(d) for d in found])


def _device(device: Device) -> api.Device:
    return api.Device(name=device.name, os=device.os, attributes=list(device.attributes))
