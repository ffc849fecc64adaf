import uvicorn

from {{ module_name }}.__main__ import main


def test_serves_the_app_on_port_from_the_environment(monkeypatch):
    calls = []
    monkeypatch.setattr(uvicorn, "run", lambda app, **options: calls.append((app, options)))
    monkeypatch.setenv("PORT", "9000")
    main()
    [(app, options)] = calls
    assert app == "{{ module_name }}.api:app"
    assert options["port"] == 9000
