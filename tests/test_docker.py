"""Docker is not available here: check what can be checked. The compose file parses and names what the
README says; the Dockerfile runs as a non-root user with a health check and its state on a volume."""

import re
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]


def test_the_compose_file_runs_two_replicas_on_redis_behind_a_load_balancer():
    compose = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
    services = compose["services"]
    assert set(services) == {"gateway-1", "gateway-2", "redis", "lb"}
    for name in ("gateway-1", "gateway-2"):
        gateway = services[name]
        assert gateway["build"] == "." and gateway["environment"]["GATEWAY_STATE_URL"] == "redis://redis:6379/0"
        assert gateway["depends_on"]["redis"]["condition"] == "service_healthy"
    assert services["lb"]["ports"] == ["3264:80"]
    mounted = services["lb"]["volumes"][0].split(":")[0]
    nginx = (ROOT / mounted).read_text()
    assert re.findall(r"server (gateway-\d):3264", nginx) == ["gateway-1", "gateway-2"]
    assert "proxy_buffering off" in nginx


def test_the_dockerfile_is_non_root_with_a_health_check_and_a_state_volume():
    text = (ROOT / "Dockerfile").read_text()
    assert re.search(r"^USER gateway$", text, re.M)
    assert "HEALTHCHECK" in text and "/health" in text
    assert 'VOLUME ["/data"]' in text and "GATEWAY_STATE_URL=sqlite:////data/gateway.db" in text
    for source in re.findall(r"^COPY (.+) \S+$", text, re.M):
        for name in source.split():
            assert (ROOT / name).exists(), name


def test_the_readme_names_the_compose_services_and_commands():
    readme = (ROOT / "README.md").read_text()
    assert "docker compose up --build" in readme
    for name in ("gateway-1", "gateway-2", "redis", "lb", "http://localhost:3264"):
        assert name in readme
