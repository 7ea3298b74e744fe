"""The example Collector configurations of docs/deploy.md (docs/collector/*.yaml) use only keys
and values the Collector's components document, and refer only to components they define.

The Collector cannot run on these machines, so each component's settings are checked against
the keys of its documented configuration schema, transcribed here with the file each comes
from (opentelemetry-collector and opentelemetry-collector-contrib, ``config.schema.yaml`` of
each package, and the file_storage extension's README):
"""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml

EXAMPLES = sorted((Path(__file__).parents[2] / "docs" / "collector").glob("*.yaml"))
DURATION = re.compile(r"^(\d+(\.\d+)?(ns|us|µs|ms|s|m|h))+$|^0$")


def duration(value: Any) -> bool:
    return isinstance(value, str) and bool(DURATION.match(value))


def one_of(*choices: str) -> Callable[[Any], bool]:
    return lambda value: value in choices


def text(value: Any) -> bool:
    return isinstance(value, str)


def flag(value: Any) -> bool:
    return isinstance(value, bool)


def number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def string_map(value: Any) -> bool:
    return isinstance(value, dict) and all(isinstance(v, str) for v in value.values())


def string_list(value: Any) -> bool:
    return isinstance(value, list) and all(isinstance(v, str) for v in value)


Spec = dict[str, Any]

# config/configtls/config.schema.yaml: config, client_config, server_config
TLS_COMMON: Spec = {
    "ca_file": text,
    "ca_pem": text,
    "cert_file": text,
    "cert_pem": text,
    "cipher_suites": string_list,
    "curve_preferences": string_list,
    "include_system_ca_certs_pool": flag,
    "key_file": text,
    "key_pem": text,
    "max_version": text,
    "min_version": text,
    "reload_interval": duration,
}
TLS_CLIENT: Spec = {
    **TLS_COMMON,
    "insecure": flag,
    "insecure_skip_verify": flag,
    "server_name_override": text,
}
TLS_SERVER: Spec = {**TLS_COMMON, "client_ca_file": text, "client_ca_file_reload": flag}
# config/configauth (the authenticator extension's id)
AUTH: Spec = {"authenticator": text}
# config/configretry/config.schema.yaml: back_off_config
RETRY: Spec = {
    "enabled": flag,
    "initial_interval": duration,
    "max_elapsed_time": duration,
    "max_interval": duration,
    "max_retries": number,
    "multiplier": number,
    "randomization_factor": number,
}
# exporter/exporterhelper/internal/queuebatch/config.schema.yaml: config
QUEUE: Spec = {
    "batch": dict,
    "block_on_overflow": flag,
    "enabled": flag,
    "num_consumers": number,
    "queue_size": number,
    "sizer": one_of("requests", "items", "bytes"),
    "storage": text,
    "wait_for_result": flag,
}
COMPRESSION = one_of("", "none", "gzip", "zstd", "zlib", "deflate", "snappy", "lz4")
# config/confighttp/config.schema.yaml: client_config
HTTP_CLIENT: Spec = {
    "auth": AUTH,
    "compression": COMPRESSION,
    "endpoint": text,
    "headers": string_map,
    "max_conns_per_host": number,
    "proxy_url": text,
    "read_buffer_size": number,
    "timeout": duration,
    "tls": TLS_CLIENT,
    "write_buffer_size": number,
}
# config/confighttp/config.schema.yaml: server_config; receiver/otlpreceiver: http_config
HTTP_SERVER: Spec = {
    "endpoint": text,
    "include_metadata": flag,
    "max_request_body_size": number,
    "tls": TLS_SERVER,
    "traces_url_path": text,
}
# config/configgrpc/config.schema.yaml: client_config and server_config
GRPC_CLIENT: Spec = {
    "auth": AUTH,
    "authority": text,
    "balancer_name": text,
    "compression": COMPRESSION,
    "endpoint": text,
    "headers": string_map,
    "read_buffer_size": number,
    "tls": TLS_CLIENT,
    "wait_for_ready": flag,
    "write_buffer_size": number,
}
GRPC_SERVER: Spec = {
    "endpoint": text,
    "include_metadata": flag,
    "max_recv_msg_size_mib": number,
    "tls": TLS_SERVER,
    "transport": text,
}
COMPONENTS: dict[tuple[str, str], Spec] = {
    # receiver/otlpreceiver/config.schema.yaml
    ("receivers", "otlp"): {"protocols": {"grpc": GRPC_SERVER, "http": HTTP_SERVER}},
    # exporter/otlphttpexporter/config.schema.yaml (+ confighttp client_config)
    ("exporters", "otlphttp"): {
        **HTTP_CLIENT,
        "encoding": one_of("proto", "json"),
        "traces_endpoint": text,
        "retry_on_failure": RETRY,
        "sending_queue": QUEUE,
    },
    # exporter/loadbalancingexporter/config.schema.yaml; protocol.otlp is
    # exporter/otlpexporter/config.schema.yaml (+ configgrpc client_config, timeout_config)
    ("exporters", "loadbalancing"): {
        "routing_key": one_of("service", "traceID", "resource", "metric", "streamID", "attributes"),
        "protocol": {
            "otlp": {
                **GRPC_CLIENT,
                "timeout": duration,
                "retry_on_failure": RETRY,
                "sending_queue": QUEUE,
            }
        },
        "resolver": {
            "static": {"hostnames": string_list},
            "dns": {"hostname": text, "port": text, "interval": duration, "timeout": duration},
        },
        "sending_queue": QUEUE,
        "timeout": duration,
    },
    # extension/storage/filestorage/README.md
    ("extensions", "file_storage"): {
        "directory": text,
        "timeout": duration,
        "fsync": flag,
        "create_directory": flag,
        "directory_permissions": text,
        "compaction": dict,
    },
    # extension/headerssetterextension/config.schema.yaml
    ("extensions", "headers_setter"): {
        "additional_auth": text,
        "headers": [
            {
                "key": text,
                "value": text,
                "value_file": text,
                "from_context": text,
                "from_attribute": text,
                "default_value": text,
                "action": one_of("insert", "update", "upsert", "delete"),
            }
        ],
    },
}


def problems(value: Any, spec: Any, where: str) -> list[str]:
    """What in ``value`` the spec does not allow, each named by its path."""
    if isinstance(spec, dict):
        if not isinstance(value, dict):
            return [f"{where}: expected a mapping"]
        found = []
        for key, item in value.items():
            if key not in spec:
                found.append(f"{where}.{key}: not a documented setting")
            else:
                found += problems(item, spec[key], f"{where}.{key}")
        return found
    if isinstance(spec, list):
        if not isinstance(value, list):
            return [f"{where}: expected a list"]
        return [p for i, item in enumerate(value) for p in problems(item, spec[0], f"{where}[{i}]")]
    if spec is dict:
        return [] if isinstance(value, dict) else [f"{where}: expected a mapping"]
    return [] if spec(value) else [f"{where}: value {value!r} not allowed"]


def component_type(name: str) -> str:
    return name.split("/", 1)[0]


@pytest.mark.parametrize("path", EXAMPLES, ids=[path.name for path in EXAMPLES])
def test_every_setting_is_documented_by_its_component(path: Path) -> None:
    config = yaml.safe_load(path.read_text())
    found = []
    for kind in ("receivers", "exporters", "extensions"):
        for name, settings in (config.get(kind) or {}).items():
            spec = COMPONENTS.get((kind, component_type(name)))
            if spec is None:
                found.append(f"{kind}.{name}: a component this check does not know")
                continue
            found += problems(settings or {}, spec, f"{kind}.{name}")
    assert found == []


@pytest.mark.parametrize("path", EXAMPLES, ids=[path.name for path in EXAMPLES])
def test_every_reference_names_a_defined_component(path: Path) -> None:
    config = yaml.safe_load(path.read_text())
    extensions = set(config.get("extensions") or {})
    service = config["service"]
    assert set(service.get("extensions", [])) == extensions  # defined and enabled
    for pipeline in service["pipelines"].values():
        assert set(pipeline["receivers"]) <= set(config["receivers"])
        assert set(pipeline["exporters"]) <= set(config["exporters"])
    for name, settings in config["exporters"].items():
        for holder in (settings, (settings.get("protocol") or {}).get("otlp") or {}):
            storage = (holder.get("sending_queue") or {}).get("storage")
            authenticator = (holder.get("auth") or {}).get("authenticator")
            for reference in (storage, authenticator):
                assert reference is None or reference in extensions, (name, reference)


def test_the_check_catches_a_misspelt_setting() -> None:
    """The checker itself: a wrong key or value is reported (else it could pass anything)."""
    spec = COMPONENTS[("exporters", "otlphttp")]
    assert problems({"endpoint": "http://x", "retry_on_falure": {}}, spec, "e") == [
        "e.retry_on_falure: not a documented setting"
    ]
    assert problems({"encoding": "protobuf"}, spec, "e") == [
        "e.encoding: value 'protobuf' not allowed"
    ]
    assert problems({"timeout": "10 seconds"}, spec, "e") != []
