"""The harness's own tests (the provider stand-in tests/provider.py and the test
certificates of tests/certs.py, checked with real clients) use the integration tests'
fixtures: they are loaded here from tests/integration/conftest.py, so that they are
written once. These tests do not need relayd."""

import importlib.util
import pathlib
import sys

_INTEGRATION = pathlib.Path(__file__).resolve().parent.parent / "integration"
sys.path.insert(0, str(_INTEGRATION))
_spec = importlib.util.spec_from_file_location("integration_conftest",
                                               _INTEGRATION / "conftest.py")
_conftest = importlib.util.module_from_spec(_spec)
sys.modules["integration_conftest"] = _conftest
_spec.loader.exec_module(_conftest)
globals().update({k: v for k, v in vars(_conftest).items() if not k.startswith("__")})
