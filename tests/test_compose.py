"""docker-compose.yml and infra/Dockerfile: the deployment files stay valid and keep their shape.

No Docker engine exists here, so nothing is started. Debian's ``docker-compose`` (1.29) validates
the file without an engine (``config -q`` resolves interpolation, anchors, profiles and the schema);
those checks skip where it is not installed (.ci/run installs it). The YAML checks need only pyyaml.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

REPO = Path(__file__).resolve().parent.parent
COMPOSE = REPO / "docker-compose.yml"
DOCKERFILE = REPO / "infra" / "Dockerfile"

needs_compose = pytest.mark.skipif(
    shutil.which("docker-compose") is None,
    reason="docker-compose not on PATH (apt-get install docker-compose; .ci/run does)",
)


def compose(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    base = {k: v for k, v in os.environ.items() if not k.startswith(("QDRANT_", "VLLM_", "MMRAG_"))}
    return subprocess.run(
        ["docker-compose", "-f", str(COMPOSE), *args],
        cwd=REPO, env={**base, **(env or {})}, capture_output=True, text=True, timeout=120,
    )


@pytest.fixture(scope="module")
def spec() -> dict:
    return yaml.safe_load(COMPOSE.read_text())


@needs_compose
@pytest.mark.parametrize("profiles", [[], ["cluster"], ["gpu"], ["cluster", "gpu"]], ids=lambda p: "+".join(p) or "default")
def test_compose_config_is_valid(profiles):
    args = [a for p in profiles for a in ("--profile", p)]
    r = compose(*args, "config", "-q", env={"QDRANT_API_KEY": "test-key"})
    assert r.returncode == 0, r.stderr


@needs_compose
def test_compose_lists_every_service():
    # docker-compose 1.29 lists profiled services too, so which profile holds what is checked on
    # the YAML below; this checks that compose itself sees all of them after merging the anchors.
    r = compose("config", "--services", env={"QDRANT_API_KEY": "test-key"})
    assert r.returncode == 0, r.stderr
    assert set(r.stdout.split()) == {"qdrant", "ui", "vllm", "qdrant-node1", "qdrant-node2", "qdrant-node3", "ui-cluster"}


@needs_compose
def test_compose_refuses_to_start_qdrant_without_api_key():
    # an unset key must not silently start a network-facing Qdrant without auth
    r = compose("config", "-q")
    assert r.returncode != 0
    assert "QDRANT_API_KEY" in r.stderr


@needs_compose
def test_compose_interpolates_key_shards_and_lora():
    env = {
        "QDRANT_API_KEY": "s3cret",
        "QDRANT_SHARD_NUMBER": "12",
        "VLLM_MODEL": "my/llava",
        "VLLM_LORA_ARGS": "--enable-lora --lora-modules caption-lora=/adapters/caption-lora",
    }
    r = compose("--profile", "cluster", "--profile", "gpu", "config", env=env)
    assert r.returncode == 0, r.stderr
    cfg = yaml.safe_load(r.stdout)["services"]
    for name in ("qdrant", "qdrant-node1", "qdrant-node2", "qdrant-node3"):
        assert cfg[name]["environment"]["QDRANT__SERVICE__API_KEY"] == "s3cret"
    assert cfg["ui"]["environment"]["QDRANT_API_KEY"] == "s3cret"
    assert str(cfg["ui-cluster"]["environment"]["MMRAG_QDRANT__SHARD_NUMBER"]) == "12"
    command = cfg["vllm"]["command"]
    command = command if isinstance(command, str) else " ".join(command)
    assert "--model my/llava" in command and "--lora-modules caption-lora=/adapters/caption-lora" in command


def test_single_node_qdrant(spec):
    q = spec["services"]["qdrant"]
    assert "qdrant/qdrant:" in q["image"]
    assert "profiles" not in q  # part of the default `up`
    assert "QDRANT_API_KEY" in q["environment"]["QDRANT__SERVICE__API_KEY"]
    assert any(v.split(":")[0] in spec["volumes"] and v.endswith("/qdrant/storage") for v in q["volumes"])
    check = " ".join(q["healthcheck"]["test"])
    assert "/readyz" in check and "6333" in check


def test_ui_service_talks_to_the_server(spec):
    ui = spec["services"]["ui"]
    assert ui["build"] == {"context": ".", "dockerfile": "infra/Dockerfile"}
    assert ui["command"][:2] == ["mmrag", "ui"] and "0.0.0.0" in ui["command"]
    assert ui["environment"]["MMRAG_QDRANT__URL"] == "http://qdrant:6333"
    assert ui["depends_on"]["qdrant"]["condition"] == "service_healthy"


def test_gpu_profile_vllm(spec):
    v = spec["services"]["vllm"]
    assert v["profiles"] == ["gpu"]
    assert "vllm/vllm-openai:" in v["image"]
    assert "VLLM_MODEL" in v["command"] and "VLLM_LORA_ARGS" in v["command"]
    devices = v["deploy"]["resources"]["reservations"]["devices"]
    assert devices[0]["capabilities"] == ["gpu"]


def test_cluster_profile_three_peers(spec):
    services = spec["services"]
    nodes = [f"qdrant-node{i}" for i in (1, 2, 3)]
    for name in nodes:
        node = services[name]
        assert node["profiles"] == ["cluster"]
        assert node["environment"]["QDRANT__CLUSTER__ENABLED"] == "true"
        assert "--uri" in node["command"] and f"http://{name}:6335" in node["command"]
        assert "healthcheck" in node
    # one peer starts the cluster; the other two join it
    assert "--bootstrap" not in services["qdrant-node1"]["command"]
    for name in nodes[1:]:
        cmd = services[name]["command"]
        assert cmd[cmd.index("--bootstrap") + 1] == "http://qdrant-node1:6335"
    # each peer has its own storage
    storages = {services[n]["volumes"][0].split(":")[0] for n in nodes}
    assert len(storages) == 3
    env = services["ui-cluster"]["environment"]
    assert {"MMRAG_QDRANT__SHARD_NUMBER", "MMRAG_QDRANT__REPLICATION_FACTOR"} <= set(env)


def test_dockerfile_pins_cpu_torch_and_installs_extras():
    text = DOCKERFILE.read_text()
    assert text.startswith("#") and "FROM python:3.11-slim" in text
    assert "torch==2.14.1 torchvision==0.29.1 --index-url https://download.pytorch.org/whl/cpu" in text
    assert '".[hub,e5,train,serve,ui,eval]"' in text
    assert '"mmrag", "ui", "--host", "0.0.0.0"' in text


def test_sharding_settings_are_validated_and_harmless_in_local_mode(tmp_path):
    """shard_number / replication_factor reach only servers; local mode still creates the collection."""
    from pydantic import ValidationError

    from mmrag.config import QdrantSettings
    from mmrag.retrieval.store import CollectionSpec, QdrantStore

    with pytest.raises(ValidationError):
        QdrantSettings(shard_number=0)
    store = QdrantStore(QdrantSettings(path=":memory:", shard_number=6, replication_factor=2))
    try:
        spec = CollectionSpec("sharded", {"visual": 4}, {"visual": "test"})
        assert store.ensure_collection(spec) is True
        assert store.exists("sharded")
    finally:
        store.close()
