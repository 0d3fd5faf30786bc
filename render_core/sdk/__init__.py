"""What plugins see: hookspecs, Task, schema, TaskContext, errors, Gradio calls, the registry."""
