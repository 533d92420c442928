"""`summarytool env`: what this environment is made of, and how it differs from the team's lock file.

`collect` reads the environment, `lockfile` reads a pip requirements/lock file, `drift` compares the two and
`command` prints the result; the image runs it against the lock it was built from.
"""
