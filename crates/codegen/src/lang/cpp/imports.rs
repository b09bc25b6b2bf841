//! A C++ test sits beside the source and includes the header that declares it (`x.cpp` → `"x.h"`;
//! a header includes itself).

use crate::Target;
use crate::imports::{Access, SourcePath};

/// The header to include for `target`.
pub(super) fn access(target: &Target<'_>, path: &SourcePath<'_>) -> Access {
    let is_header = matches!(
        path.extension.as_str(),
        "h" | "hh" | "hpp" | "hxx" | "h++" | "inl"
    );
    let base = target.file_name.base_name();
    // A name that cannot sit in an include's quotes is left to the reader.
    if base.contains(['"', '\\']) {
        Access::Cpp {
            header: String::new(),
            guessed: true,
        }
    } else if is_header {
        Access::Cpp {
            header: base.to_owned(),
            guessed: false,
        }
    } else {
        Access::Cpp {
            header: format!("{}.h", path.stem),
            guessed: true,
        }
    }
}

/// The `#include` of `header`, said to be a guess when it is one, or a TODO when there is none.
pub(crate) fn import_lines(header: &str, guessed: bool) -> Vec<String> {
    if header.is_empty() {
        return vec!["// TODO: #include the header declaring the code under test.".to_owned()];
    }
    let mut lines = Vec::new();
    if guessed {
        lines.push(format!(
            "// The header declaring the code under test, assumed beside the source as {header}."
        ));
    }
    lines.push(format!("#include \"{header}\""));
    lines
}
