//! What running a source file's units showed: the calls the offline generator made and what each
//! returned or raised, as the explorers inside the sandbox report them
//! (`crates/runner/explore/`). Values are source-code literals of the file's language, so a test
//! can write them as they are.

use serde::{Deserialize, Deserializer, Serialize};

/// A text an explorer may write as `null` when it is empty.
fn text<'de, D: Deserializer<'de>>(deserializer: D) -> Result<String, D::Error> {
    Ok(Option::<String>::deserialize(deserializer)?.unwrap_or_default())
}

/// A list an explorer may write as `null` when it is empty.
fn list<'de, D, T>(deserializer: D) -> Result<Vec<T>, D::Error>
where
    D: Deserializer<'de>,
    T: Deserialize<'de>,
{
    Ok(Option::<Vec<T>>::deserialize(deserializer)?.unwrap_or_default())
}

/// The units of one source file to explore.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ExploreRequest {
    /// The source file, relative to the work directory.
    pub source: String,
    /// How a test names it: Python's dotted module, or JavaScript's relative specifier.
    pub module: String,
    pub units: Vec<UnitRef>,
    pub budget_ms: u64,
    pub call_timeout_ms: u64,
    pub max_cases_per_unit: u32,
    pub seed: u64,
}

/// A unit by name and container (the class, for methods and constructors).
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct UnitRef {
    pub name: String,
    pub container: Option<String>,
}

/// What an explorer found, for every unit it reached before its budget or a limit ended it.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Exploration {
    pub imported: bool,
    /// Why the source could not be imported.
    #[serde(default)]
    pub error: Option<String>,
    #[serde(default)]
    pub elapsed_ms: u64,
    #[serde(default, deserialize_with = "list")]
    pub units: Vec<ExploredUnit>,
}

impl Exploration {
    /// The explored unit `name` of `container`.
    pub fn unit(&self, name: &str, container: Option<&str>) -> Option<&ExploredUnit> {
        self.units
            .iter()
            .find(|unit| unit.name == name && unit.container.as_deref() == container)
    }

    /// Calls kept, over every unit.
    pub fn cases(&self) -> usize {
        self.units.iter().map(|unit| unit.cases.len()).sum()
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ExploredUnit {
    pub name: String,
    #[serde(default)]
    pub container: Option<String>,
    /// Calls made.
    #[serde(default)]
    pub tried: u64,
    /// When no call was kept: why.
    #[serde(default)]
    pub note: Option<String>,
    #[serde(default, deserialize_with = "list")]
    pub cases: Vec<Case>,
}

/// One kept call and what it did.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Case {
    /// For a method: how its object is built first.
    #[serde(default)]
    pub receiver: Option<Receiver>,
    /// A static or class method, called on the class.
    #[serde(default, rename = "static")]
    pub is_static: bool,
    #[serde(default, deserialize_with = "list")]
    pub arguments: Vec<Argument>,
    /// The unit is asynchronous: the test awaits it.
    #[serde(default)]
    pub awaited: bool,
    /// How the result was gathered before it was compared (`list`, for a Python generator).
    #[serde(default)]
    pub collect: Option<String>,
    pub outcome: Outcome,
    /// Arguments the call changed, by position.
    #[serde(default, deserialize_with = "list")]
    pub arguments_after: Vec<ArgumentAfter>,
    /// The object's public state after the call, where the call changed it.
    #[serde(default, deserialize_with = "list")]
    pub receiver_after: Vec<Field>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Receiver {
    pub class: String,
    #[serde(default, deserialize_with = "list")]
    pub arguments: Vec<Argument>,
    /// Methods called on the object before the call under test.
    #[serde(default, deserialize_with = "list")]
    pub calls: Vec<Call>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Call {
    pub method: String,
    #[serde(default, deserialize_with = "list")]
    pub arguments: Vec<Argument>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Argument {
    #[serde(default, deserialize_with = "text")]
    pub name: String,
    /// A literal of the language, or a construction of one of the file's classes from literals.
    pub value: String,
    /// Passed by name.
    #[serde(default)]
    pub keyword: bool,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ArgumentAfter {
    pub index: usize,
    pub value: String,
    #[serde(default)]
    pub approx: bool,
}

/// A named value: a field of an object.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Field {
    pub name: String,
    pub value: String,
    /// A floating-point value, compared approximately.
    #[serde(default)]
    pub approx: bool,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Outcome {
    /// The same value on two independent runs.
    Returned {
        value: String,
        #[serde(default)]
        approx: bool,
    },
    /// Different values on two runs (time, randomness, identity): only the type is asserted.
    ReturnedUnstable {
        #[serde(rename = "type")]
        type_name: String,
    },
    /// An object of one of the file's classes, asserted by its public fields.
    ReturnedObject {
        #[serde(rename = "type")]
        type_name: String,
        #[serde(default, deserialize_with = "list")]
        fields: Vec<Field>,
    },
    Raised {
        #[serde(rename = "type")]
        type_name: String,
        /// A builtin exception, rather than a class of the file.
        #[serde(default)]
        builtin: bool,
        #[serde(default, deserialize_with = "text")]
        message: String,
    },
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_an_explorers_result() {
        let text = r#"{
          "imported": true, "error": null, "elapsed_ms": 12,
          "units": [{"name": "pop", "container": "Stack", "tried": 9, "note": null, "cases": [
            {"receiver": {"class": "Stack", "arguments": [], "calls": [{"method": "push", "arguments": [{"name": "item", "value": "1", "keyword": false}]}]},
             "static": false, "arguments": [], "awaited": false, "collect": null,
             "outcome": {"kind": "returned", "value": "1", "approx": false},
             "arguments_after": [], "receiver_after": [{"name": "size", "value": "0", "approx": false}]},
            {"arguments": [], "outcome": {"kind": "raised", "type": "EmptyError", "builtin": false, "message": "empty"}}
          ]}]
        }"#;
        let exploration: Exploration = serde_json::from_str(text).expect("a result");
        let unit = exploration.unit("pop", Some("Stack")).expect("pop");
        assert_eq!(unit.cases.len(), 2);
        assert_eq!(
            unit.cases[1].outcome,
            Outcome::Raised {
                type_name: "EmptyError".to_owned(),
                builtin: false,
                message: "empty".to_owned()
            }
        );
        assert_eq!(exploration.cases(), 2);
        assert!(exploration.unit("pop", None).is_none());
    }
}
