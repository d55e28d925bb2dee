//! `print-env [NAME]...`: prints the environment as one JSON object on
//! stdout: every variable, or only the NAMEs given (`null` when unset).

use std::collections::BTreeMap;

use serde_json::Value;

fn main() {
    let names: Vec<String> = std::env::args().skip(1).collect();
    let vars: BTreeMap<String, Value> = if names.is_empty() {
        std::env::vars_os()
            .map(|(k, v)| (k.to_string_lossy().into_owned(), Value::String(v.to_string_lossy().into_owned())))
            .collect()
    } else {
        names
            .into_iter()
            .map(|k| {
                let v = std::env::var_os(&k).map_or(Value::Null, |v| Value::String(v.to_string_lossy().into_owned()));
                (k, v)
            })
            .collect()
    };
    println!("{}", serde_json::to_string(&vars).expect("a map of strings serializes"));
}
