#!/usr/bin/env node
// {{ project_name }}: prints the greeting for the first argument.
import { greeting } from "./greeting.js";

console.log(greeting(process.argv[2]));
