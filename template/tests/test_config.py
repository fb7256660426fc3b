import pytest
from pydantic import SecretStr, ValidationError

from app.core.config import Settings
from tests.conftest import make_settings

STRONG_SECRET = "9f1c4e7a2b8d5f0c3e6a9b2d5f8c1e4a7b0d3f6c"  # gitleaks:allow (test value)


def production(**overrides: object) -> Settings:
    values: dict[str, object] = {"environment": "production", "secret_key": STRONG_SECRET}
    return make_settings(**(values | overrides))


class TestProductionGuard:
    def test_accepts_a_secure_configuration(self) -> None:
        settings = production(forwarded_allow_ips=["10.0.0.1"])
        assert settings.environment == "production"

    @pytest.mark.parametrize(
        ("overrides", "message"),
        [
            ({"secret_key": SecretStr("")}, "SECRET_KEY"),
            ({"secret_key": SecretStr("short-but-random-3f9a")}, "SECRET_KEY"),
            ({"secret_key": SecretStr("change-me-to-a-long-random-value")}, "SECRET_KEY"),
            ({"secret_key": SecretStr("a" * 64)}, "SECRET_KEY"),
            ({"debug": True}, "DEBUG"),
            ({"cors_origins": ["*"], "cors_allow_credentials": True}, "CORS_ORIGINS"),
            ({"forwarded_allow_ips": ["*"]}, "FORWARDED_ALLOW_IPS"),
        ],
    )
    def test_refuses_insecure_settings(self, overrides: dict[str, object], message: str) -> None:
        with pytest.raises(ValidationError, match=message):
            production(**overrides)

    def test_names_every_problem_at_once(self) -> None:
        with pytest.raises(ValidationError) as error:
            production(debug=True, forwarded_allow_ips=["*"])
        assert "DEBUG" in str(error.value)
        assert "FORWARDED_ALLOW_IPS" in str(error.value)

    def test_development_tolerates_what_production_refuses(self) -> None:
        settings = make_settings(environment="development", secret_key="", debug=True)
        assert settings.debug


class TestDocsVisibility:
    def test_docs_are_off_in_production_by_default(self) -> None:
        assert production().docs_visible is False

    def test_docs_can_be_enabled_in_production(self) -> None:
        assert production(docs_enabled=True).docs_visible is True

    def test_docs_are_on_in_development(self) -> None:
        assert make_settings(environment="development").docs_visible is True


class TestEnvironmentParsing:
    def test_lists_accept_comma_separated_values(self, monkeypatch: pytest.MonkeyPatch) -> None:
        monkeypatch.setenv("CORS_ORIGINS", "https://a.example, https://b.example")
        assert make_settings().cors_origins == ["https://a.example", "https://b.example"]

    def test_lists_accept_json(self, monkeypatch: pytest.MonkeyPatch) -> None:
        monkeypatch.setenv("TRUSTED_HOSTS", '["api.example.com", "localhost"]')
        assert make_settings().trusted_hosts == ["api.example.com", "localhost"]

    def test_empty_values_mean_default(self, monkeypatch: pytest.MonkeyPatch) -> None:
        monkeypatch.setenv("REDIS_URL", "")
        monkeypatch.setenv("DOCS_ENABLED", "")
        settings = make_settings()
        assert settings.redis_url is None
        assert settings.docs_enabled is None

    def test_malformed_value_names_the_setting(self, monkeypatch: pytest.MonkeyPatch) -> None:
        monkeypatch.setenv("DATABASE_POOL_SIZE", "many")
        with pytest.raises(ValidationError, match="database_pool_size"):
            make_settings()

    def test_unknown_environment_is_refused(self, monkeypatch: pytest.MonkeyPatch) -> None:
        monkeypatch.setenv("ENVIRONMENT", "staging")
        with pytest.raises(ValidationError, match="environment"):
            Settings(_env_file=None)
