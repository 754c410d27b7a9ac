"""The netdose command line (typer). Thin: parse, call the library, render."""
