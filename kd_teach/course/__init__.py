"""The course around the code: exercise checkers, the exercise builder, the question bank and quizzes,
the widgets and figures the notebooks show, and each chapter's view of the results."""
