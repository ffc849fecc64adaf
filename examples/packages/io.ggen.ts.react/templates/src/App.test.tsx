import { cleanup, fireEvent, render, screen } from "@testing-library/react";
import { afterEach, describe, expect, it } from "vitest";
import { App } from "./App";

afterEach(cleanup);

describe("App", () => {
  it("greets the name typed in", () => {
    render(<App />);
    expect(screen.getByRole("status").textContent).toBe("Hello, world!");
    fireEvent.change(screen.getByRole("textbox"), { target: { value: "Ada" } });
    expect(screen.getByRole("status").textContent).toBe("Hello, Ada!");
  });

  it("counts clicks", () => {
    render(<App />);
    const button = screen.getByRole("button");
    expect(button.textContent).toBe("Clicked 0 times");
    fireEvent.click(button);
    expect(button.textContent).toBe("Clicked 1 time");
  });
});
