// Entry point: styles and the application shell.
import "./styles.css";
import { App } from "./views/app";

new App(document.getElementById("app")!);
