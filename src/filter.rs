//! Which repositories a run reads: the `repositories` and `exclude_repositories` patterns of
//! the config, compiled once. Both the partition listing and the `repositories` stream apply
//! them, so the stream lists exactly what the run reads.

use globset::{GlobBuilder, GlobSet, GlobSetBuilder};

use crate::config::{ConfigError, Settings};

/// The repository include/exclude patterns of the config.
#[derive(Debug)]
pub struct RepositoryFilter {
    include: Vec<Pattern>,
    exclude: Vec<Pattern>,
}

#[derive(Debug)]
struct Pattern {
    text: String,
    /// A set of one glob: building a set reports a pattern whose regex cannot be compiled as
    /// an error, where `Glob::compile_matcher` would panic.
    matcher: GlobSet,
    with_workspace: bool,
    literal: bool,
}

impl Pattern {
    fn new(text: &str) -> Result<Pattern, globset::Error> {
        let glob = GlobBuilder::new(text)
            .case_insensitive(true)
            .literal_separator(false)
            .build()?;
        Ok(Pattern {
            text: text.to_string(),
            matcher: GlobSetBuilder::new().add(glob).build()?,
            with_workspace: text.contains('/'),
            literal: !text.contains(['*', '?', '[', '{']),
        })
    }

    fn matches(&self, workspace: &str, slug: &str) -> bool {
        if self.with_workspace {
            self.matcher.is_match(format!("{workspace}/{slug}"))
        } else {
            self.matcher.is_match(slug)
        }
    }
}

/// Why `text` is not a usable repository pattern, or `None` when it is: for config
/// validation, which knows which file or variable set it.
pub fn pattern_problem(text: &str) -> Option<String> {
    Pattern::new(text)
        .err()
        .map(|e| format!("`{text}` is not a valid pattern: {e}"))
}

impl RepositoryFilter {
    /// Compiles the patterns of the config.
    pub fn new(settings: &Settings) -> Result<RepositoryFilter, ConfigError> {
        let compile = |key: &str, list: &[String]| {
            list.iter()
                .map(|p| {
                    Pattern::new(p).map_err(|e| ConfigError::Invalid {
                        key: key.to_string(),
                        source_name: "config".into(),
                        reason: format!("`{p}` is not a valid pattern: {e}"),
                    })
                })
                .collect::<Result<Vec<_>, _>>()
        };
        Ok(RepositoryFilter {
            include: compile("repositories", &settings.repositories)?,
            exclude: compile("exclude_repositories", &settings.exclude_repositories)?,
        })
    }

    /// Whether the run reads `workspace/slug`.
    pub fn matches(&self, workspace: &str, slug: &str) -> bool {
        (self.include.is_empty() || self.include.iter().any(|p| p.matches(workspace, slug)))
            && !self.exclude.iter().any(|p| p.matches(workspace, slug))
    }

    /// The include patterns that match none of the `listed` repositories (`(workspace, slug)`
    /// pairs): a literal name among them names a repository that does not exist.
    pub fn unmatched_includes<'s>(&'s self, listed: &[(&str, &str)]) -> Vec<Unmatched<'s>> {
        self.include
            .iter()
            .filter(|p| !listed.iter().any(|(ws, slug)| p.matches(ws, slug)))
            .map(|p| Unmatched {
                pattern: &p.text,
                literal: p.literal,
            })
            .collect()
    }
}

/// An include pattern that matched no repository.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Unmatched<'a> {
    /// The pattern as configured.
    pub pattern: &'a str,
    /// Whether it is a literal name (no glob characters): then the repository does not exist.
    pub literal: bool,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn patterns_match_slug_or_full_name() {
        let p = Pattern::new("api-*").unwrap();
        assert!(p.matches("acme", "api-gateway"));
        assert!(!p.matches("acme", "web"));
        let p = Pattern::new("acme/*").unwrap();
        assert!(p.matches("acme", "web"));
        assert!(!p.matches("globex", "web"));
        assert!(Pattern::new("api").unwrap().literal);
        assert!(!Pattern::new("api-*").unwrap().literal);
    }
}
