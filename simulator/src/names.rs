//! Word lists for realistic names, titles, branches and descriptions.

/// Given names of the synthetic users (index 0 is reserved for the demo user).
pub const FIRST_NAMES: &[&str] = &[
    "Ada", "Bruno", "Chen", "Dana", "Emeka", "Farah", "Gustav", "Hana", "Ines", "Jonas", "Kavya", "Luis",
    "Mei", "Nadia", "Oskar", "Priya", "Quentin", "Rosa", "Sven", "Tomoko", "Umar", "Vera", "Wei", "Ximena",
    "Yusuf", "Zofia", "Amara", "Bjorn", "Carla", "Dmitri", "Elif", "Felipe",
];

/// Family names of the synthetic users.
pub const LAST_NAMES: &[&str] = &[
    "Okafor",
    "Lindqvist",
    "Nakamura",
    "Moreau",
    "Kowalski",
    "Haddad",
    "Fischer",
    "Silva",
    "Novak",
    "Rahman",
    "Costa",
    "Jensen",
    "Petrov",
    "Ibrahim",
    "Tanaka",
    "Schmidt",
    "Alvarez",
    "Dubois",
    "Mensah",
    "Oliveira",
    "Kaur",
    "Becker",
    "Yilmaz",
    "Larsen",
    "Rossi",
    "Nguyen",
    "Walsh",
    "Horvat",
    "Bianchi",
    "Sato",
    "Mueller",
    "Quinn",
];

/// Pull-request title verbs.
pub const VERBS: &[&str] = &[
    "Add", "Fix", "Refactor", "Remove", "Update", "Improve", "Document", "Speed up", "Harden", "Migrate",
    "Simplify", "Test",
];

/// Pull-request title subjects.
pub const SUBJECTS: &[&str] = &[
    "retry logic for webhooks",
    "pagination in the list endpoint",
    "login rate limiter",
    "CSV export",
    "dark mode toggle",
    "database connection pool",
    "nightly batch job",
    "Terraform state locking",
    "search indexing",
    "error handling in the importer",
    "feature flag cleanup",
    "user settings page",
    "metrics dashboard",
    "S3 upload multipart support",
    "OAuth token refresh",
    "timezone handling in reports",
    "flaky integration tests",
    "Docker base image",
    "schema migration for orders",
    "cache invalidation",
];

/// Dependency names for "Bump x from a to b" titles.
pub const DEPENDENCIES: &[&str] = &[
    "serde",
    "tokio",
    "react",
    "lodash",
    "django",
    "requests",
    "terraform-aws",
    "junit",
];

/// Branch prefixes.
pub const BRANCH_PREFIXES: &[&str] = &["feature", "feature", "bugfix", "hotfix", "chore"];

/// Decline reasons (an empty reason is also common).
pub const DECLINE_REASONS: &[&str] = &[
    "Superseded by a different approach.",
    "Stale: no activity for 90 days.",
    "Not needed anymore.",
    "Duplicate of another pull request.",
];

/// Description sentences.
pub const SENTENCES: &[&str] = &[
    "This change keeps the public API unchanged.",
    "Covered by new unit tests.",
    "See the linked ticket for the background.",
    "Needs a config change on deploy.",
    "Benchmarks show a small improvement.",
    "Follow-up work is tracked separately.",
    "Tested locally against staging data.",
];

/// Repository purposes, for descriptions.
pub const REPO_PURPOSES: &[&str] = &[
    "Backend service and its deployment scripts.",
    "Shared libraries used across teams.",
    "Infrastructure as code for all environments.",
    "Customer-facing web application.",
    "ETL jobs feeding the analytics warehouse.",
    "Documentation site and runbooks.",
    "Internal tooling and automation.",
];

/// Repository languages (an empty string means "not set").
pub const LANGUAGES: &[&str] = &[
    "python",
    "javascript",
    "typescript",
    "go",
    "java",
    "rust",
    "",
    "hcl",
];

/// Turns `web-app` into `Web App`.
pub fn title_case_slug(slug: &str) -> String {
    slug.split(['-', '_'])
        .filter(|w| !w.is_empty())
        .map(|w| {
            let mut chars = w.chars();
            match chars.next() {
                Some(c) => c.to_uppercase().chain(chars).collect::<String>(),
                None => String::new(),
            }
        })
        .collect::<Vec<_>>()
        .join(" ")
}

/// Turns a title into a branch-friendly slug: `Fix CSV export` → `fix-csv-export`.
pub fn branchify(text: &str) -> String {
    let mut out = String::new();
    for c in text.chars() {
        if c.is_ascii_alphanumeric() {
            out.push(c.to_ascii_lowercase());
        } else if !out.ends_with('-') && !out.is_empty() {
            out.push('-');
        }
    }
    out.trim_end_matches('-').to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slugs() {
        assert_eq!(title_case_slug("web-app"), "Web App");
        assert_eq!(title_case_slug("api"), "Api");
        assert_eq!(branchify("Fix CSV export!"), "fix-csv-export");
    }
}
