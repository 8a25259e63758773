"""Farm jobs: a shot's job graph as an Open Job Description template, and its backends
(local, Deadline Cloud, Slurm, OpenCue). Filled in by the farm issue.
"""
