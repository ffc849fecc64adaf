import pytest
from fastapi.testclient import TestClient

from {{ module_name }}.api import create_app


@pytest.fixture
def client() -> TestClient:
    return TestClient(create_app())


def test_health(client):
    response = client.get("/health")
    assert response.status_code == 200
    assert response.json() == {"status": "ok"}


def test_items_are_created_listed_fetched_and_deleted(client):
    response = client.post("/api/v1/items", json={"name": " first "})
    assert response.status_code == 201
    assert response.json() == {"id": 1, "name": "first"}

    assert client.get("/api/v1/items").json() == [{"id": 1, "name": "first"}]
    assert client.get("/api/v1/items/1").json() == {"id": 1, "name": "first"}

    assert client.delete("/api/v1/items/1").status_code == 204
    assert client.get("/api/v1/items/1").status_code == 404
    assert client.delete("/api/v1/items/1").status_code == 404


def test_a_blank_name_is_rejected(client):
    response = client.post("/api/v1/items", json={"name": "   "})
    assert response.status_code == 422
