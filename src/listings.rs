//! Test helpers that read the places an option or scope field is listed by hand, so a test can
//! hold them to one another: a `#[napi(object)]` struct in Rust source (its fields and their
//! doc comments), the interface `napi build` generated from it in `index.d.ts`, and the
//! README. Each panics, naming what it looked for, when the text has moved.

/// The fields of `pub struct <name>` in Rust source `src`, as JS names (camelCase, as napi
/// writes them), each with its doc comment joined into one line.
pub fn struct_fields(src: &str, name: &str) -> Vec<(String, String)> {
    let header = format!("pub struct {name} {{");
    let start = src.find(&header).unwrap_or_else(|| panic!("no `{header}`"));
    let body = &src[start + header.len()..];
    let body = &body[..body
        .find("\n}")
        .unwrap_or_else(|| panic!("`{header}` never ends"))];
    let mut fields = Vec::new();
    let mut doc = String::new();
    for line in body.lines().map(str::trim) {
        if let Some(text) = line.strip_prefix("///") {
            doc.push_str(text.trim());
            doc.push(' ');
        } else if let Some(field) = line.strip_prefix("pub ") {
            let field = field.split(':').next().unwrap_or_default().trim();
            fields.push((camel(field), std::mem::take(&mut doc).trim().to_owned()));
        }
    }
    fields
}

/// The property names of `export interface <name>` in `index.d.ts`.
pub fn ts_interface(dts: &str, name: &str) -> Vec<String> {
    let header = format!("export interface {name} {{");
    let start = dts
        .find(&header)
        .unwrap_or_else(|| panic!("no `{header}` in index.d.ts"));
    let body = &dts[start + header.len()..];
    let body = &body[..body.find("\n}").expect("the interface ends")];
    body.lines()
        .filter_map(|line| line.strip_prefix("  "))
        .filter(|line| line.starts_with(|c: char| c.is_ascii_alphabetic()))
        .map(|line| {
            let name = line.split(':').next().unwrap_or_default();
            name.trim_end_matches('?').to_owned()
        })
        .collect()
}

/// The rows of the first table after the README heading `heading`: each row's cells, and in
/// each cell the texts it writes as `code`.
pub fn readme_table(readme: &str, heading: &str) -> Vec<Vec<Vec<String>>> {
    let start = readme
        .find(&format!("\n{heading}\n"))
        .unwrap_or_else(|| panic!("no README heading `{heading}`"));
    readme[start..]
        .lines()
        .skip_while(|line| !line.starts_with('|'))
        .take_while(|line| line.starts_with('|'))
        .skip(2) // the header and the |---| line
        .map(|row| {
            row.trim_matches('|')
                .split('|')
                .map(|cell| {
                    cell.split('`')
                        .skip(1)
                        .step_by(2)
                        .map(str::to_owned)
                        .collect()
                })
                .collect()
        })
        .collect()
}

/// `max_queue_memory_bytes` → `maxQueueMemoryBytes`.
pub fn camel(snake: &str) -> String {
    let mut out = String::new();
    let mut upper = false;
    for c in snake.chars() {
        if c == '_' {
            upper = true;
        } else if upper {
            out.extend(c.to_uppercase());
            upper = false;
        } else {
            out.push(c);
        }
    }
    out
}

pub const INDEX_D_TS: &str = include_str!("../index.d.ts");
pub const README: &str = include_str!("../README.md");
