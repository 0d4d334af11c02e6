"""``RespiraTrainer`` with its loss terms, the decision rule of its evaluations, its log lines, and the
schedules that drive it for a seed."""
