"""The OpenAPI schema describes every route with the status codes it really returns."""

from voxagent.app import create_app
from voxagent.settings import load_settings


def test_schema_lists_routes_and_their_error_codes() -> None:
    schema = create_app(load_settings()).openapi()
    paths = schema["paths"]
    expected = {
        ("/api/call/initiate", "post"): {"200", "422", "502", "503"},
        ("/api/call/batch", "post"): {"202", "413", "422", "503"},
        ("/api/call/batch/{batch_id}", "get"): {"200", "404"},
        ("/api/calls/{call_id}", "get"): {"200", "404"},
        ("/api/sessions/stats", "get"): {"200"},
        ("/webhook/telnyx", "post"): {"200", "400", "401", "503"},
        ("/health", "get"): {"200", "503"},
    }
    for (path, method), codes in expected.items():
        assert codes <= set(paths[path][method]["responses"]), (path, method)
    initiate = schema["components"]["schemas"]["CallRequest"]
    assert initiate["required"] == ["phone"]
