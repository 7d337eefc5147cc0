"""Build contexts as BuildKit sees them: .dockerignore rules and the files a build can see."""
