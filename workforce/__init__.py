"""The workforce: annotators' profiles, skills, qualification exams and work records."""
