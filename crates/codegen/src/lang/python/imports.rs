//! A Python test sits at the project root (where pytest runs) and imports the module by its dotted
//! path: `app/utils/math_ops.py` → `from app.utils.math_ops import …`; a leading `src/` is a
//! source root, not a package, and is dropped.

pub(super) fn module_path(directory: &str, stem: &str) -> String {
    let mut parts: Vec<&str> = directory
        .split('/')
        .filter(|part| !part.is_empty())
        .collect();
    if parts.first() == Some(&"src") {
        parts.remove(0);
    }
    if stem != "__init__" || parts.is_empty() {
        parts.push(stem);
    }
    parts.join(".")
}

/// `from module import a, b`, or nothing when no name is needed.
pub(crate) fn import_lines(module: &str, names: &[String]) -> Vec<String> {
    if names.is_empty() {
        Vec::new()
    } else {
        vec![format!("from {module} import {}", names.join(", "))]
    }
}
