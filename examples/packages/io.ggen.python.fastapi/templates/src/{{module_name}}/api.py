"""The HTTP API of {{ project_name }}.

``create_app()`` builds a new application with its own, empty item store;
``app`` is the one uvicorn serves.
"""

from fastapi import FastAPI, HTTPException, Response, status
from pydantic import BaseModel, ConfigDict, Field

from . import __version__


class NewItem(BaseModel):
    """The body of ``POST /api/v1/items``."""

    model_config = ConfigDict(str_strip_whitespace=True)

    name: str = Field(min_length=1, max_length=200)


class Item(NewItem):
    """An item as stored and returned."""

    id: int


class ItemStore:
    """Items in memory, by id."""

    def __init__(self) -> None:
        self._items: dict[int, Item] = {}
        self._last_id = 0

    def all(self) -> list[Item]:
        return list(self._items.values())

    def add(self, new: NewItem) -> Item:
        self._last_id += 1
        item = Item(id=self._last_id, name=new.name)
        self._items[item.id] = item
        return item

    def get(self, item_id: int) -> Item | None:
        return self._items.get(item_id)

    def delete(self, item_id: int) -> bool:
        return self._items.pop(item_id, None) is not None


def create_app() -> FastAPI:
    """Build the application: routes over a new item store."""
    app = FastAPI(title="{{ project_name }}", description="{{ description }}", version=__version__)
    store = ItemStore()

    @app.get("/health")
    def health() -> dict[str, str]:
        return {"status": "ok"}

    @app.get("/api/v1/items")
    def list_items() -> list[Item]:
        return store.all()

    @app.post("/api/v1/items", status_code=status.HTTP_201_CREATED)
    def create_item(new: NewItem) -> Item:
        return store.add(new)

    @app.get("/api/v1/items/{item_id}")
    def get_item(item_id: int) -> Item:
        item = store.get(item_id)
        if item is None:
            raise HTTPException(status.HTTP_404_NOT_FOUND, f"no item {item_id}")
        return item

    @app.delete("/api/v1/items/{item_id}", status_code=status.HTTP_204_NO_CONTENT)
    def delete_item(item_id: int) -> Response:
        if not store.delete(item_id):
            raise HTTPException(status.HTTP_404_NOT_FOUND, f"no item {item_id}")
        return Response(status_code=status.HTTP_204_NO_CONTENT)

    return app


app = create_app()
