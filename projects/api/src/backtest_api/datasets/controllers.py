"""``/api/v1/datasets``: upload OHLCV (CSV or Parquet), list, read metadata, delete."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Annotated
from typing import Literal

from litestar import Controller
from litestar import Request
from litestar import Response
from litestar import delete
from litestar import get
from litestar import post
from litestar.datastructures import State
from litestar.openapi.datastructures import ResponseSpec
from litestar.openapi.spec import OpenAPIFormat
from litestar.openapi.spec import OpenAPIMediaType
from litestar.openapi.spec import OpenAPIType
from litestar.openapi.spec import Operation
from litestar.openapi.spec import RequestBody
from litestar.openapi.spec import Schema
from litestar.params import FromPath
from litestar.params import Parameter
from litestar.params import QueryParameter
from litestar.params import RawBody

from backtest_api.core.dependencies import CurrentUser
from backtest_api.core.dependencies import ServicesDep
from backtest_api.core.openapi import links
from backtest_api.core.openapi import problems
from backtest_api.core.principal import Principal
from backtest_api.datasets import services as datasets
from backtest_api.datasets import uploads
from backtest_api.datasets.schemas import Dataset
from backtest_api.datasets.schemas import DatasetPage

UPLOAD_DESCRIPTION = """Upload OHLCV bars as the raw request body, or as the `file` part of a
multipart form (`curl -F file=@bars.csv`): CSV (header row with `timestamp`, `open`, `high`, `low`,
`close`, `volume`; timestamps ISO-8601 or epoch numbers) or Parquet (detected by its magic bytes, or
say `?format=parquet`). The file is validated with the engine's rules; a bad file answers 400 naming
the column, the data row and the file line (e.g. `data.high[17]: high 9.5 is below low 10.0 (line 19
of the file)`). Bars you already uploaded answer 200 with the dataset that holds them (`existing`:
true) instead of storing a copy. Larger files than the configured limit answer 413."""


@dataclass
class UploadOperation(Operation):
    """Documents the raw request body (a file, not JSON)."""

    def __post_init__(self) -> None:
        binary = Schema(type=OpenAPIType.STRING, format=OpenAPIFormat.BINARY)
        self.request_body = RequestBody(
            required=True,
            description="The CSV or Parquet file's bytes",
            content={
                "text/csv": OpenAPIMediaType(schema=binary),
                "application/vnd.apache.parquet": OpenAPIMediaType(schema=binary),
                "application/octet-stream": OpenAPIMediaType(schema=binary),
                "multipart/form-data": OpenAPIMediaType(
                    schema=Schema(type=OpenAPIType.OBJECT, properties={"file": binary}, required=["file"])
                ),
            },
        )


class DatasetController(Controller):
    path = "/api/v1/datasets"
    tags = ["datasets"]

    @post(
        "/",
        operation_id="uploadDataset",
        summary="Upload a dataset",
        description=UPLOAD_DESCRIPTION,
        status_code=201,
        operation_class=UploadOperation,
        responses={
            **problems(413),
            200: ResponseSpec(Dataset, description="These bars were already uploaded: the dataset that holds them"),
        },
        opt=links((201, 200), "dataset_id", "getDataset", "getDatasetPrices", "deleteDataset"),
    )
    async def upload(
        self,
        request: Request[Principal, str, State],
        services: ServicesDep,
        user: CurrentUser,
        body: RawBody,
        name: Annotated[
            str | None,
            Parameter(
                min_length=1,
                max_length=200,
                required=False,
                description="Display name (default: the uploaded file's name)",
            ),
        ] = None,
        file_format: Annotated[
            Literal["csv", "parquet"] | None,
            QueryParameter(name="format", description="File format (default: detected)", required=False),
        ] = None,
    ) -> Response[Dataset]:
        content, filename, content_type = await uploads.received_file(request, body)
        chosen = datasets.detect_format(content, file_format, content_type)
        dataset = await datasets.upload(services, user, name or filename or "dataset", content, chosen)
        status = 200 if dataset.existing else 201
        return Response(dataset, status_code=status, headers={"Location": f"{self.path}/{dataset.id}"})

    @get("/", operation_id="listDatasets", summary="List your datasets, newest first")
    async def list_datasets(
        self,
        services: ServicesDep,
        user: CurrentUser,
        limit: Annotated[int, Parameter(ge=1, le=1000, required=False)] = 100,
    ) -> DatasetPage:
        return DatasetPage(items=await datasets.list_datasets(services, user, limit))

    @get("/{dataset_id:uuid}", operation_id="getDataset", summary="Get a dataset's metadata")
    async def get_dataset(self, services: ServicesDep, user: CurrentUser, dataset_id: FromPath[uuid.UUID]) -> Dataset:
        return await datasets.get(services, user, dataset_id)

    @delete(
        "/{dataset_id:uuid}",
        operation_id="deleteDataset",
        summary="Delete a dataset no backtest uses (409 otherwise)",
        status_code=204,
        responses=problems(409),
    )
    async def delete_dataset(self, services: ServicesDep, user: CurrentUser, dataset_id: FromPath[uuid.UUID]) -> None:
        await datasets.delete(services, user, dataset_id)
