"""Developer tooling: `c3-render dev`, throwaway services, sample inputs."""
