"""Text generators: a generator persona and a content type in, a draft (text or thread parts, topic) out.

`offline` writes from one template family per persona with no model and no key. Pure: imports nothing of xbot.
Imported by the planner (`acting.planner`) and by `evaluation` (the static history).
"""
