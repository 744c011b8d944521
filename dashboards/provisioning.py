"""Grafana provisioning files for planewatch, and a strict check of every key in them.

Grafana reads three kinds of provisioning file from ``<provisioning>/<kind>/*.yaml``:

* ``datasources/``: the ClickHouse datasource (plugin ``grafana-clickhouse-datasource``);
* ``dashboards/``: *dashboard providers*, which point Grafana at a folder of dashboard JSON;
* ``alerting/``: alert rule groups (see :mod:`planewatch.dashboards.alert_rules`).

**Grafana silently ignores keys it does not know**: a misspelt ``defaultDatabse`` or
``disableDeletoin`` is not an error, the setting just does not apply. :func:`validate`
therefore checks every key against the keys Grafana (and the ClickHouse plugin) actually
read, with pydantic models that forbid anything else. The key lists come from:

* datasources: ``pkg/services/provisioning/datasources/types.go`` (``configsV1``,
  ``upsertDataSourceFromConfigV1``, ``deleteDatasourceConfigV1``) of grafana/grafana 11-13,
  plus the top-level ``prune`` documented for Grafana 11.1+ ("Provision Grafana", data sources);
* the datasource's ``jsonData``/``secureJsonData``: ``pkg/plugin/settings.go``
  (``LoadSettings``) of grafana/clickhouse-datasource 4.x, plus ``version``, which the
  plugin's config page writes;
* dashboard providers: ``pkg/services/provisioning/dashboards/types.go`` (``configs``) and
  ``file_reader.go`` (``options.path``, ``options.foldersFromFilesStructure``);
* alerting: ``pkg/services/provisioning/alerting/types.go`` (``AlertingFileV1``) and
  ``rules_types.go`` (``AlertRuleGroupV1``, ``AlertRuleV1``, ``QueryV1``,
  ``NotificationSettingsV1``, ``RecordV1``); expression models (``datasourceUid: __expr__``)
  from ``pkg/expr/commands.go`` (reduce, threshold) and the ClickHouse query model from the
  plugin's query editor (``rawSql``, ``format``, ``editorType``, ``queryType``).

What this proves: no key we write is one Grafana would ignore, required values are there
and enumerations (``protocol``, ``noDataState`` ...) hold allowed values. What it cannot
prove without a Grafana server: that Grafana 13 accepts the files end to end.

No secret is ever written: the datasource's host, database, user and password default to
Grafana's ``$__env{NAME}`` / ``$__file{PATH}`` references, which Grafana expands when it
reads the file.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Mapping
from pathlib import Path
from typing import Annotated, Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, StrictBool, StrictInt, StrictStr, StringConstraints, ValidationError, field_validator, model_validator

__all__ = [
    "CLICKHOUSE_PLUGIN",
    "DATASOURCE_UID",
    "DEPLOY_DATASOURCE_HEADER",
    "FOLDER",
    "ClickHouseConnection",
    "ProvisioningError",
    "dashboard_provider_file",
    "datasource_file",
    "dump_yaml",
    "validate",
    "validate_tree",
]

CLICKHOUSE_PLUGIN = "grafana-clickhouse-datasource"
DATASOURCE_UID = "planewatch-clickhouse"
"""The uid every planewatch dashboard panel and alert query names its datasource by."""
DATASOURCE_NAME = "planewatch"
FOLDER = "planewatch"
"""Grafana folder (title) holding planewatch's dashboards and alert rules."""
CONTAINER_DASHBOARDS = "/etc/grafana/provisioning/dashboards/planewatch"
"""Where deploy/compose.yaml's Grafana sees the dashboard JSON files (the provider's ``options.path``)."""

Kind = Literal["datasources", "dashboards", "alerting"]


class ProvisioningError(ValueError):
    """A provisioning document has keys or values Grafana would ignore or reject; says which, where."""


# -- building ---------------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class ClickHouseConnection:
    """How Grafana reaches the store. The defaults are references Grafana expands, not values:
    the address and user come from the Grafana container's environment, the password from a
    mounted secret file (what deploy/compose.yaml sets up)."""

    host: str = "$__env{PLANEWATCH_CLICKHOUSE_HOST}"
    port: int | str = 9000
    protocol: Literal["native", "http"] = "native"
    secure: bool = False
    database: str = "$__env{PLANEWATCH_CLICKHOUSE_DATABASE}"
    user: str = "$__env{PLANEWATCH_CLICKHOUSE_USER}"
    password: str = "$__file{/run/secrets/clickhouse_password}"


DEPLOY_DATASOURCE_HEADER = """\
# The planewatch store as a Grafana datasource (plugin grafana-clickhouse-datasource,
# installed by deploy/compose.yaml through GF_PLUGINS_PREINSTALL_SYNC).
#
# Grafana expands $__env{NAME} and $__file{PATH} when it reads this file: the address and
# user come from the Grafana container's environment, the password from the secret file
# compose mounts, so no value here is specific to one installation or secret.
# `planewatch dashboards build --out deploy/grafana/provisioning` adds the dashboards and
# alert rules that use this datasource (by its uid).
"""


def datasource_file(
    connection: ClickHouseConnection = ClickHouseConnection(),
    *,
    uid: str = DATASOURCE_UID,
    name: str = DATASOURCE_NAME,
) -> dict[str, Any]:
    """The datasource provisioning document (``provisioning/datasources/*.yaml``)."""
    return {
        "apiVersion": 1,
        "datasources": [
            {
                "name": name,
                "uid": uid,
                "type": CLICKHOUSE_PLUGIN,
                "access": "proxy",
                "isDefault": True,
                "editable": False,
                "jsonData": {
                    "host": connection.host,
                    "port": connection.port,
                    "protocol": connection.protocol,
                    "secure": connection.secure,
                    "defaultDatabase": connection.database,
                    "username": connection.user,
                },
                "secureJsonData": {"password": connection.password},
            }
        ],
    }


def dashboard_provider_file(
    path: str = CONTAINER_DASHBOARDS,
    *,
    folder: str = FOLDER,
    update_interval_seconds: int = 30,
) -> dict[str, Any]:
    """The dashboard provider document (``provisioning/dashboards/*.yaml``).

    ``path`` is where *Grafana* finds the JSON files, not where ``build`` wrote them.
    Deletion from the UI is disabled and UI edits are not saved (they would be overwritten
    from the files on the next scan anyway): the files are the source of truth.
    """
    return {
        "apiVersion": 1,
        "providers": [
            {
                "name": "planewatch",
                "orgId": 1,
                "folder": folder,
                "type": "file",
                "disableDeletion": True,
                "updateIntervalSeconds": update_interval_seconds,
                "allowUiUpdates": False,
                "options": {"path": path, "foldersFromFilesStructure": False},
            }
        ],
    }


class _IndentedDumper(yaml.SafeDumper):
    """Indents list items under their key (``datasources:\\n  - name``), as people write YAML."""

    def increase_indent(self, flow: bool = False, indentless: bool = False) -> None:  # noqa: ARG002
        super().increase_indent(flow, False)

    def ignore_aliases(self, data: Any) -> bool:  # noqa: ARG002
        return True  # no &id001 anchors: each value written out where it is used


def _text(dumper: yaml.SafeDumper, text: str) -> yaml.Node:
    """Multi-line text (SQL) as a literal block, so the file reads like the query."""
    return dumper.represent_scalar("tag:yaml.org,2002:str", text, style="|" if "\n" in text else None)


_IndentedDumper.add_representer(str, _text)


def dump_yaml(document: Mapping[str, Any], header: str = "") -> str:
    """``document`` as block YAML in key order (a blank line between top-level keys), after
    the ``header`` comment lines."""
    parts = [
        yaml.dump({key: value}, Dumper=_IndentedDumper, sort_keys=False, default_flow_style=False,
                  allow_unicode=True, width=110)
        for key, value in document.items()
    ]
    return header + "\n".join(parts)


# -- strict schemas ---------------------------------------------------------------------------


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=False)


# Grafana's values.* types accept $__env{...}/$__file{...} strings in place of numbers and
# booleans, so numbers and booleans may also be such strings.
_REF = r".*\$__(env|file)\{[^}]+\}.*"
_IntOrRef = StrictInt | Annotated[str, StringConstraints(strict=True, pattern=rf"^(\d+|{_REF})$")]
_BoolOrRef = StrictBool | Annotated[str, StringConstraints(strict=True, pattern=rf"^(true|false|{_REF})$")]


class ClickHouseJsonData(_Strict):
    """``jsonData`` keys the ClickHouse plugin 4.x reads (``LoadSettings``), plus ``version``."""

    host: StrictStr
    port: _IntOrRef
    protocol: Literal["native", "http"]
    secure: _BoolOrRef | None = None
    path: StrictStr | None = None
    tlsSkipVerify: _BoolOrRef | None = None
    tlsAuth: _BoolOrRef | None = None
    tlsAuthWithCACert: _BoolOrRef | None = None
    username: StrictStr | None = None
    defaultDatabase: StrictStr | None = None
    dialTimeout: _IntOrRef | None = None
    queryTimeout: _IntOrRef | None = None
    customSettings: list[dict[str, StrictStr]] | None = None
    forwardGrafanaHeaders: _BoolOrRef | None = None
    enableRowLimit: _BoolOrRef | None = None
    enableSchemaCache: _BoolOrRef | None = None
    schemaCacheTTLSeconds: _IntOrRef | None = None
    rowCapacityHint: _IntOrRef | None = None
    httpHeaders: list[dict[str, Any]] | None = None
    version: StrictStr | None = None


class ClickHouseSecureJsonData(_Strict):
    """``secureJsonData`` keys the ClickHouse plugin reads (``secureHttpHeaders.*`` is not used here)."""

    password: StrictStr | None = None
    tlsCACert: StrictStr | None = None
    tlsClientCert: StrictStr | None = None
    tlsClientKey: StrictStr | None = None


class Datasource(_Strict):
    """``upsertDataSourceFromConfigV1``."""

    orgId: _IntOrRef | None = None
    orgName: StrictStr | None = None
    version: _IntOrRef | None = None
    name: StrictStr
    type: StrictStr
    access: Literal["proxy", "direct"] | None = None
    url: StrictStr | None = None
    user: StrictStr | None = None
    database: StrictStr | None = None
    basicAuth: _BoolOrRef | None = None
    basicAuthUser: StrictStr | None = None
    withCredentials: _BoolOrRef | None = None
    isDefault: _BoolOrRef | None = None
    correlations: list[dict[str, Any]] | None = None
    jsonData: dict[str, Any] | None = None
    secureJsonData: dict[str, StrictStr] | None = None
    editable: _BoolOrRef | None = None
    uid: StrictStr | None = None

    @field_validator("jsonData")
    @classmethod
    def _no_nested_secrets(cls, value: dict[str, Any] | None) -> dict[str, Any] | None:
        if value and "password" in value:
            raise ValueError("a password in jsonData is stored in clear text; put it in secureJsonData")
        return value


class DeleteDatasource(_Strict):
    """``deleteDatasourceConfigV1``."""

    orgId: _IntOrRef | None = None
    orgName: StrictStr | None = None
    name: StrictStr


class DatasourcesFile(_Strict):
    """``configsV1`` (apiVersion 1)."""

    apiVersion: Literal[1]
    datasources: list[Datasource] = Field(default_factory=list)
    deleteDatasources: list[DeleteDatasource] = Field(default_factory=list)
    prune: StrictBool | None = None


class ProviderOptions(_Strict):
    """What the file provider reads from ``options`` (``file_reader.go``)."""

    path: StrictStr
    foldersFromFilesStructure: StrictBool | None = None


class DashboardProvider(_Strict):
    """``configs`` of pkg/services/provisioning/dashboards/types.go."""

    name: StrictStr
    type: Literal["file"] = "file"
    orgId: _IntOrRef | None = None
    folder: StrictStr | None = None
    folderUid: StrictStr | None = None
    editable: _BoolOrRef | None = None
    options: ProviderOptions
    disableDeletion: _BoolOrRef | None = None
    updateIntervalSeconds: _IntOrRef | None = None
    allowUiUpdates: _BoolOrRef | None = None


class DashboardProvidersFile(_Strict):
    apiVersion: Literal[1]
    providers: list[DashboardProvider]


class RelativeTimeRange(_Strict):
    """``models.RelativeTimeRange``: seconds before the evaluation time."""

    from_: StrictInt = Field(alias="from", ge=0)
    to: StrictInt = Field(ge=0)


class Evaluator(_Strict):
    type: Literal["gt", "lt", "within_range", "outside_range", "eq", "ne", "gte", "lte",
                  "within_range_included", "outside_range_included"]
    params: list[float]


class ThresholdCondition(_Strict):
    evaluator: Evaluator
    unloadEvaluator: Evaluator | None = None


class ExpressionDatasource(_Strict):
    type: Literal["__expr__"]
    uid: Literal["__expr__"]


class ReduceSettings(_Strict):
    mode: Literal["", "dropNN", "replaceNN"]
    replaceWithValue: float | None = None


class ExpressionModel(_Strict):
    """A server-side expression (pkg/expr/commands.go): the keys it reads for reduce and threshold."""

    refId: StrictStr
    type: Literal["reduce", "threshold", "math", "resample", "classic_conditions", "sql"]
    datasource: ExpressionDatasource | None = None
    expression: StrictStr
    reducer: Literal["last", "mean", "min", "max", "sum", "count", "median"] | None = None
    settings: ReduceSettings | None = None
    conditions: list[dict[str, Any]] | None = None
    hide: StrictBool | None = None
    intervalMs: StrictInt | None = None
    maxDataPoints: StrictInt | None = None

    @model_validator(mode="after")
    def _per_type(self) -> ExpressionModel:
        if self.type == "reduce" and self.reducer is None:
            raise ValueError("a reduce expression needs a reducer")
        if self.type == "threshold":
            if not self.conditions or len(self.conditions) != 1:
                raise ValueError("a threshold expression needs exactly one condition")
            ThresholdCondition.model_validate(self.conditions[0])
        return self


class ClickHouseDatasourceRef(_Strict):
    type: Literal["grafana-clickhouse-datasource"]
    uid: StrictStr


class ClickHouseQueryModel(_Strict):
    """The ClickHouse plugin's query model as its SQL editor saves it."""

    refId: StrictStr
    datasource: ClickHouseDatasourceRef | None = None
    editorType: Literal["sql", "builder"]
    rawSql: StrictStr
    format: Literal[0, 1, 2, 3, 4]
    """0 time series, 1 table, 2 logs, 3 traces, 4 auto (sqlutil.FormatQueryOption)."""
    queryType: Literal["table", "timeseries", "logs", "traces"] | None = None
    pluginVersion: StrictStr | None = None
    builderOptions: dict[str, Any] | None = None
    meta: dict[str, Any] | None = None
    hide: StrictBool | None = None
    intervalMs: StrictInt | None = None
    maxDataPoints: StrictInt | None = None


class AlertQuery(_Strict):
    """``QueryV1``."""

    refId: StrictStr
    queryType: StrictStr | None = None
    relativeTimeRange: RelativeTimeRange | None = None
    datasourceUid: StrictStr
    model: dict[str, Any]

    def check_model(self) -> None:
        """Validate ``model`` against the expression keys (``__expr__``) or else the ClickHouse
        query keys: planewatch's rules query no other datasource, so any other model is an error."""
        schema = ExpressionModel if self.datasourceUid == "__expr__" else ClickHouseQueryModel
        model = schema.model_validate(self.model)
        if model.refId != self.refId:
            raise ValueError(f"model.refId {model.refId!r} differs from refId {self.refId!r}")


class NotificationSettings(_Strict):
    receiver: StrictStr
    group_by: list[StrictStr] | None = None
    group_wait: StrictStr | None = None
    group_interval: StrictStr | None = None
    repeat_interval: StrictStr | None = None
    mute_time_intervals: list[StrictStr] | None = None
    active_time_intervals: list[StrictStr] | None = None


class Record(_Strict):
    metric: StrictStr
    # "from" is a Python keyword
    from_: StrictStr = Field(alias="from")
    targetDatasourceUid: StrictStr | None = None


class AlertRule(_Strict):
    """``AlertRuleV1``."""

    uid: StrictStr = Field(min_length=1, max_length=40)
    title: StrictStr = Field(min_length=1)
    condition: StrictStr | None = None
    data: list[AlertQuery] = Field(min_length=1)
    dasboardUid: StrictStr | None = None
    dashboardUid: StrictStr | None = None
    panelId: _IntOrRef | None = None
    noDataState: Literal["Alerting", "NoData", "OK", "KeepLast"] | None = None
    execErrState: Literal["Alerting", "Error", "OK", "KeepLast"] | None = None
    for_: StrictStr | None = Field(default=None, alias="for")
    keepFiringFor: StrictStr | None = None
    missing_series_evals_to_resolve: _IntOrRef | None = None
    annotations: dict[str, StrictStr] | None = None
    labels: dict[str, StrictStr] | None = None
    isPaused: _BoolOrRef | None = None
    notification_settings: NotificationSettings | None = None
    record: Record | None = None

    def check(self, where: str = "rule") -> None:
        """What Grafana checks when it loads the rule, plus each query model's keys."""
        if self.condition is None and self.record is None:
            raise ValueError(f"rule {self.uid!r} has no condition")
        refs = [query.refId for query in self.data]
        if len(set(refs)) != len(refs):
            raise ValueError(f"rule {self.uid!r} repeats a refId: {refs}")
        if self.condition is not None and self.condition not in refs:
            raise ValueError(f"rule {self.uid!r}: condition {self.condition!r} is none of its refIds {refs}")
        for index, query in enumerate(self.data):
            try:
                query.check_model()
            except ValidationError as error:
                raise ProvisioningError(_explain(error, "alerting", f"{where}.data.{index}.model")) from None
            expression = query.model.get("expression") if query.datasourceUid == "__expr__" else None
            if expression is not None and expression not in refs:
                raise ValueError(f"rule {self.uid!r}: {query.refId} reads {expression!r}, which is none of {refs}")


class AlertRuleGroup(_Strict):
    """``AlertRuleGroupV1``."""

    orgId: _IntOrRef | None = None
    name: StrictStr = Field(min_length=1)
    folder: StrictStr = Field(min_length=1)
    interval: StrictStr
    rules: list[AlertRule]


class AlertingFile(_Strict):
    """``AlertingFileV1``. Only rule groups are modelled in depth; the other sections are
    accepted because Grafana reads them, but planewatch writes none of them."""

    apiVersion: Literal[1]
    groups: list[AlertRuleGroup] = Field(default_factory=list)
    deleteRules: list[dict[str, Any]] | None = None
    contactPoints: list[dict[str, Any]] | None = None
    deleteContactPoints: list[dict[str, Any]] | None = None
    policies: list[dict[str, Any]] | None = None
    resetPolicies: list[Any] | None = None
    muteTimes: list[dict[str, Any]] | None = None
    deleteMuteTimes: list[dict[str, Any]] | None = None
    templates: list[dict[str, Any]] | None = None
    deleteTemplates: list[dict[str, Any]] | None = None


_SCHEMAS: dict[str, type[_Strict]] = {
    "datasources": DatasourcesFile,
    "dashboards": DashboardProvidersFile,
    "alerting": AlertingFile,
}


def _explain(error: ValidationError, kind: str, prefix: str = "") -> str:
    lines = []
    for problem in error.errors():
        where = ".".join([prefix, *(str(part) for part in problem["loc"])] if prefix else
                         [str(part) for part in problem["loc"]]) or "(top)"
        if problem["type"] == "extra_forbidden":
            lines.append(f"  {where}: Grafana does not read this key (misspelt?); it would be ignored silently")
        else:
            lines.append(f"  {where}: {problem['msg']}")
    return f"{kind} provisioning file:\n" + "\n".join(lines)


def validate(kind: Kind, document: Any) -> None:
    """Raise :class:`ProvisioningError` unless ``document`` uses only keys Grafana reads for ``kind``.

    >>> validate("dashboards", dashboard_provider_file("/var/lib/grafana/dashboards"))
    """
    schema = _SCHEMAS.get(kind)
    if schema is None:
        raise ProvisioningError(f"unknown provisioning kind {kind!r}; one of {', '.join(_SCHEMAS)}")
    try:
        parsed = schema.model_validate(document)
    except ValidationError as error:
        raise ProvisioningError(_explain(error, kind)) from None
    if isinstance(parsed, DatasourcesFile):
        for index, source in enumerate(parsed.datasources):
            if source.type != CLICKHOUSE_PLUGIN:
                continue
            for key, schema_part in (("jsonData", ClickHouseJsonData), ("secureJsonData", ClickHouseSecureJsonData)):
                try:
                    schema_part.model_validate(getattr(source, key) or {})
                except ValidationError as error:
                    raise ProvisioningError(_explain(error, kind, f"datasources.{index}.{key}")) from None
    elif isinstance(parsed, AlertingFile):
        for group_index, group in enumerate(parsed.groups):
            for rule_index, rule in enumerate(group.rules):
                where = f"groups.{group_index}.rules.{rule_index}"
                try:
                    rule.check(where)
                except ProvisioningError:
                    raise
                except ValidationError as error:
                    raise ProvisioningError(_explain(error, kind, where)) from None
                except ValueError as error:
                    raise ProvisioningError(f"{kind} provisioning file: {where}: {error}") from None


def validate_dashboard(document: Any, *, where: str = "dashboard") -> None:
    """The minimum Grafana needs of a provisioned dashboard JSON: an object with a title and a uid."""
    if not isinstance(document, dict):
        raise ProvisioningError(f"{where}: a dashboard must be a JSON object")
    for key in ("title", "uid"):
        if not isinstance(document.get(key), str) or not document[key]:
            raise ProvisioningError(f"{where}: the dashboard has no {key}")
    if document.get("id") is not None:
        raise ProvisioningError(f"{where}: a provisioned dashboard must have no id (Grafana assigns it)")


def validate_tree(root: Path) -> list[Path]:
    """Validate every provisioning file under ``root`` (a ``provisioning/`` directory): the
    YAML files of ``datasources/``, ``dashboards/`` and ``alerting/`` and the dashboard JSON
    under ``dashboards/``. Returns the files checked; raises :class:`ProvisioningError`."""
    checked: list[Path] = []
    for kind in _SCHEMAS:
        folder = root / kind
        if not folder.is_dir():
            continue
        for path in sorted(folder.glob("*.y*ml")):
            try:
                document = yaml.safe_load(path.read_text(encoding="utf-8"))
            except yaml.YAMLError as error:
                raise ProvisioningError(f"{path}: not valid YAML: {error}") from None
            try:
                validate(kind, document)  # type: ignore[arg-type]
            except ProvisioningError as error:
                raise ProvisioningError(f"{path}: {error}") from None
            checked.append(path)
        if kind == "dashboards":
            for path in sorted(folder.rglob("*.json")):
                try:
                    document = json.loads(path.read_text(encoding="utf-8"))
                except json.JSONDecodeError as error:
                    raise ProvisioningError(f"{path}: not valid JSON: {error}") from None
                validate_dashboard(document, where=str(path))
                checked.append(path)
    return checked


# -- writing a provisioning tree ----------------------------------------------------------------

DATASOURCE_FILE = Path("datasources/planewatch-clickhouse.yaml")
PROVIDER_FILE = Path("dashboards/planewatch.yaml")
DASHBOARDS_DIR = Path("dashboards/planewatch")
ALERTING_FILE = Path("alerting/planewatch-rules.yaml")

_GENERATED = "# Written by `planewatch dashboards build`; edit the code in planewatch's dashboards/ and build again.\n"


def render_tree(
    *,
    datasource_uid: str = DATASOURCE_UID,
    connection: ClickHouseConnection = ClickHouseConnection(),
    dashboards_path: str = CONTAINER_DASHBOARDS,
) -> dict[Path, str]:
    """Every provisioning file planewatch has, as ``{path relative to provisioning/: text}``.

    The layout is Grafana's: ``datasources/``, ``dashboards/`` (the provider file; the JSON
    in its ``planewatch/`` sub-folder, which the provider's ``options.path`` must name as
    Grafana sees it) and ``alerting/``. Each document is validated before it is returned.
    """
    from planewatch.dashboards.alert_rules import alert_rules_file
    from planewatch.dashboards.boards import dashboards

    source = datasource_file(connection, uid=datasource_uid)
    provider = dashboard_provider_file(dashboards_path)
    rules = alert_rules_file(datasource_uid=datasource_uid)
    validate("datasources", source)
    validate("dashboards", provider)
    validate("alerting", rules)
    header = DEPLOY_DATASOURCE_HEADER if connection == ClickHouseConnection() else _GENERATED
    files = {
        DATASOURCE_FILE: dump_yaml(source, header),
        PROVIDER_FILE: dump_yaml(provider, _GENERATED + f"# Grafana loads the dashboards from {dashboards_path}.\n"),
        ALERTING_FILE: dump_yaml(rules, _GENERATED),
    }
    for name, board in sorted(dashboards(datasource_uid=datasource_uid).items()):
        validate_dashboard(board, where=name)
        files[DASHBOARDS_DIR / name] = json.dumps(board, indent=2, ensure_ascii=False) + "\n"
    return files


def write_tree(out: Path, files: Mapping[Path, str]) -> list[Path]:
    """Write ``files`` under ``out``; JSON files in ``dashboards/planewatch/`` that are not
    among them (dashboards since removed) are deleted. Returns the paths written, then
    validates the tree as Grafana would read it."""
    written: list[Path] = []
    for relative, text in files.items():
        path = out / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
        written.append(path)
    boards_dir = out / DASHBOARDS_DIR
    if boards_dir.is_dir():
        keep = {out / relative for relative in files}
        for stale in boards_dir.glob("*.json"):
            if stale not in keep:
                stale.unlink()
    validate_tree(out)
    return written
