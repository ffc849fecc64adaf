import { useState } from "react";
import { greeting } from "./greeting";

export function App() {
  const [name, setName] = useState("");
  const [clicks, setClicks] = useState(0);

  return (
    <main className="app">
      <h1>{{ project_name }}</h1>
      <p>{{ description }}</p>
      <label>
        Your name{" "}
        <input value={name} onChange={(event) => setName(event.target.value)} />
      </label>
      <p role="status">{greeting(name.trim() || undefined)}</p>
      <button type="button" onClick={() => setClicks((count) => count + 1)}>
        Clicked {clicks} {clicks === 1 ? "time" : "times"}
      </button>
    </main>
  );
}
