"""The MetaWorld/MuJoCo backend (Sawyer, MT10/MT50 tasks, scripted experts)."""
