"""Files facerec reads and writes: the folder walker, atomic private writes, outputs that never replace inputs."""
