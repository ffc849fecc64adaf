from {{ module_name }} import greeting


def test_greets_by_name():
    assert greeting("Ada") == "Hello, Ada!"


def test_greets_the_world_by_default():
    assert greeting() == "Hello, world!"
