//! The scrubbing policy, as data: which keys hold personal or secret data, which values look
//! personal wherever they appear, and what replaces them. A compliance reviewer can audit this
//! file alone; README.md ("What is scrubbed") lists the same rules, and a test keeps the two in
//! step.
//!
//! Key patterns are matched against the key with case and separators removed (`dateOfBirth`,
//! `date_of_birth` and `Date-Of-Birth` all read `dateofbirth`). A leading or trailing `*`
//! matches anything: `*name` is any key ending in `name`, `*email*` any key containing `email`.

/// Sentry's own placeholder for a value removed by key or by taint.
pub const FILTERED: &str = "[Filtered]";

/// How a value removed by key taints the rest of the event.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Taint {
    /// The value (and each `,`/`;`-separated part of it) is removed wherever else it appears.
    Whole,
    /// As `Whole`, and each word of it too: "John Smith" also removes a lone "Smith".
    Words,
}

pub struct KeyRule {
    pub category: &'static str,
    pub keys: &'static [&'static str],
    pub taint: Taint,
    /// The rule applies only when the value is a string: `person: "Jane Roe"` goes, while
    /// `person: { role: "analyst" }` (or a document's `holder: { kind, fullName }`) is an
    /// object whose own keys are read as usual.
    pub strings_only: bool,
}

/// Values under these keys become `"[Filtered]"`, at any depth, in every part of the event.
pub const KEY_RULES: &[KeyRule] = &[
    KeyRule {
        category: "person's name",
        taint: Taint::Words,
        strings_only: false,
        keys: &[
            "name",
            "*name",
            "*names",
            "forename*",
            "*forenames",
            "surname*",
            "alias",
            "*alias",
            "*aliases",
            "aka",
            "initials",
            "who",
        ],
    },
    KeyRule {
        category: "person or holder, when the value is a string",
        taint: Taint::Words,
        strings_only: true,
        keys: &["person", "*holder"],
    },
    KeyRule {
        category: "search term",
        taint: Taint::Words,
        strings_only: false,
        keys: &[
            "q",
            "query",
            "search",
            "searchterm*",
            "searchquery",
            "searchtext",
            "term",
            "terms",
            "keyword",
            "keywords",
        ],
    },
    KeyRule {
        category: "date or place of birth",
        taint: Taint::Whole,
        strings_only: false,
        keys: &["dob", "*dob", "*birth*"],
    },
    KeyRule {
        category: "address",
        taint: Taint::Whole,
        strings_only: false,
        keys: &[
            "*address*",
            "addr",
            "*street*",
            "city",
            "town",
            "county",
            "*postcode*",
            "*postalcode*",
            "zip",
            "zipcode",
            "*zipcode",
            "line1",
            "line2",
            "line3",
            "housenumber",
            "*residence*",
        ],
    },
    KeyRule {
        category: "national or official id",
        taint: Taint::Whole,
        strings_only: false,
        keys: &[
            "nationalid*",
            "*nationalid*",
            "nino",
            "*nino",
            "ninumber",
            "*ninumber",
            "*insurancenumber*",
            "ssn",
            "*ssn",
            "socialsecurity*",
            "*passport*",
            "taxid",
            "*taxid",
            "utr",
            "*driverslicen*",
            "*drivinglicen*",
            "*licencenumber*",
            "*licensenumber*",
            "idnumber",
            "*idnumber",
            "*documentnumber*",
            "traveldocument*",
            "nationality",
        ],
    },
    KeyRule {
        category: "contact details",
        taint: Taint::Whole,
        strings_only: false,
        keys: &[
            "*email*",
            "*phone*",
            "*mobile*",
            "tel",
            "telephone",
            "fax",
            "*contactnumber*",
        ],
    },
    KeyRule {
        category: "network address",
        taint: Taint::Whole,
        strings_only: false,
        keys: &[
            "ip",
            "ips",
            "ipv4",
            "ipv6",
            "*ipaddress*",
            "clientip",
            "remoteip",
            "userip",
            "realip",
            "xrealip",
            "forwardedfor",
            "xforwardedfor",
            "forwarded",
            "remoteaddr",
            "trueclientip",
            "cfconnectingip",
        ],
    },
    KeyRule {
        category: "credential or secret",
        taint: Taint::Whole,
        strings_only: false,
        keys: &[
            "*password*",
            "*passwd*",
            "pwd",
            "*pwd",
            "*passphrase*",
            "*secret*",
            "*token*",
            "*apikey*",
            "*accesskey*",
            "*privatekey*",
            "*credential*",
            "*authorization*",
            "auth",
            "*auth",
            "authheader",
            "*bearer*",
            "*cookie*",
            "*session*",
            "*csrf*",
            "*xsrf*",
            "*jwt*",
            "*signature*",
            "otp",
            "*pin",
            "pincode",
        ],
    },
    KeyRule {
        category: "payment details",
        taint: Taint::Whole,
        strings_only: false,
        keys: &[
            "*cardnumber*",
            "*creditcard*",
            "pan",
            "cvv",
            "cvv2",
            "cvc",
            "*securitycode*",
            "iban",
            "*iban",
            "*accountnumber*",
            "sortcode",
            "*sortcode",
        ],
    },
];

/// Keys holding a `name=value; …` cookie list: the values go, the names stay (as Sentry's own
/// SDKs do, and as Relay expects of `request.cookies`).
pub const COOKIE_KEYS: &[&str] = &["cookie", "cookies", "setcookie"];

/// Keys the rules above would catch that name technical things, never people: kept so errors
/// stay useful. (A plural `s` is ignored: `fileNames` is kept like `fileName`.)
pub const TECHNICAL_KEYS: &[&str] = &[
    "filename",
    "pathname",
    "dirname",
    "basename",
    "hostname",
    "servername",
    "domainname",
    "functionname",
    "methodname",
    "typename",
    "classname",
    "modulename",
    "packagename",
    "routename",
    "eventname",
    "appname",
    "applicationname",
    "servicename",
    "tablename",
    "dbname",
    "databasename",
    "schemaname",
    "columnname",
    "fieldname",
    "keyname",
    "indexname",
    "queuename",
    "topicname",
    "channelname",
    "bucketname",
    "operationname",
    "transactionname",
    "spanname",
    "tagname",
    "metricname",
    "jobname",
    "taskname",
    "workername",
    "listname",
    "sdkname",
    "browsername",
    "osname",
    "runtimename",
    "devicename",
    "envname",
    "environmentname",
    "releasename",
    "projectname",
    "componentname",
    "layoutname",
    "pagename",
    "screenname",
    "featurename",
    "flagname",
    "headername",
    "paramname",
    "cookiename",
    "providername",
    "sanctionslistname",
    "listversionname",
    "regimename",
    "serveraddress",
    "bindaddress",
    "listenaddress",
    "localaddress",
    "baseaddress",
    "tokentype",
    "sessionduration",
    "pinned",
    "spinner",
    "placeholder",
];

pub struct ValueRule {
    pub name: &'static str,
    /// Regex (Rust syntax) for a candidate.
    pub pattern: &'static str,
    /// Which part of a candidate is personal, for patterns a regex cannot pin down alone.
    pub check: Check,
    /// What that part becomes.
    pub replace: &'static str,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Check {
    /// The whole match.
    Whole,
    /// The longest run of digit groups that passes the Luhn checksum (card numbers).
    Luhn,
    /// The longest run of groups that passes the ISO 13616 mod-97 checksum and has its
    /// country's length (IBANs, in any case).
    Iban,
    /// The match, if `std::net::Ipv6Addr` parses it and it stands alone (not `a::b`).
    Ipv6,
    /// The credential after the scheme word, if it has 8+ characters and a digit.
    Credential,
    /// The value after `=` or `:`.
    Assigned,
}

/// Values that are personal wherever they appear: in messages, stack text and every field.
/// Only the personal part is replaced, so "Lookup failed for a@b.com" reads "Lookup failed
/// for [email]". Rules run in this order: a JWT is not left for the bearer rule to half-eat.
pub const VALUE_RULES: &[ValueRule] = &[
    ValueRule {
        name: "JSON web token",
        pattern: r"\beyJ[A-Za-z0-9_-]{5,}\.eyJ[A-Za-z0-9_-]{5,}\.[A-Za-z0-9_-]*",
        check: Check::Whole,
        replace: "[jwt]",
    },
    ValueRule {
        name: "bearer or basic credentials",
        pattern: r"(?i)\b(?:bearer|basic)\s+[A-Za-z0-9._~+/-]+=*",
        check: Check::Credential,
        replace: "[token]",
    },
    ValueRule {
        name: "API key (Stripe, AWS, GitHub, Slack, Google style)",
        pattern: r"\b(?:(?:sk|pk|rk)_(?:live|test)_[A-Za-z0-9]{8,}|AKIA[0-9A-Z]{16}|gh[pousr]_[A-Za-z0-9]{30,}|xox[abprs]-[A-Za-z0-9-]{10,}|AIza[0-9A-Za-z_-]{35})\b",
        check: Check::Whole,
        replace: "[secret]",
    },
    ValueRule {
        name: "secret assignment (password=…, api_key: …)",
        pattern: r#"(?i)\b(?:password|passwd|pwd|secret|api[_-]?key|access[_-]?token|auth[_-]?token|refresh[_-]?token|client[_-]?secret)["']?\s*[=:]\s*(?:"[^"]*"|'[^']*'|[^\s,;&"']+)"#,
        check: Check::Assigned,
        replace: "[Filtered]",
    },
    ValueRule {
        name: "email address (Unicode local part and domain too)",
        pattern: r"[\p{L}\p{N}._%+-]+@[\p{L}\p{N}-]+(?:\.[\p{L}\p{N}-]+)*\.\p{L}{2,}",
        check: Check::Whole,
        replace: "[email]",
    },
    ValueRule {
        name: "payment card number (Luhn-checked, spaces, dashes or dots allowed)",
        pattern: r"\b\d(?:[ -]?\d){12,}\b|\b\d{4}(?:\.\d{4}){2}\.\d{1,7}\b|\b\d{4}\.\d{6}\.\d{4,5}\b",
        check: Check::Luhn,
        replace: "[card]",
    },
    ValueRule {
        name: "IBAN (mod-97 and length checked, any case)",
        pattern: r"\b[A-Za-z]{2}\d{2}(?: ?[A-Za-z0-9]){11,}\b",
        check: Check::Iban,
        replace: "[iban]",
    },
    ValueRule {
        name: "UK National Insurance number",
        pattern: r"(?i)\b[A-Z]{2} ?\d{2} ?\d{2} ?\d{2} ?[A-D]\b",
        check: Check::Whole,
        replace: "[ni-number]",
    },
    ValueRule {
        name: "phone number in international form",
        pattern: r"\+\d{1,3}[ .-]?(?:\(\d{1,4}\)[ .-]?)?\d{2,5}(?:[ .-]?\d{2,5}){1,4}\b",
        check: Check::Whole,
        replace: "[phone]",
    },
    ValueRule {
        name: "IPv4 address",
        pattern: r"\b(?:25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)(?:\.(?:25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)){3}\b",
        check: Check::Whole,
        replace: "[ip]",
    },
    ValueRule {
        name: "IPv6 address",
        pattern: r"(?i)[0-9a-f]{0,4}(?::[0-9a-f]{0,4}){2,7}(?:%[0-9a-z]+)?",
        check: Check::Ipv6,
        replace: "[ip]",
    },
    ValueRule {
        name: "UK postcode",
        pattern: r"\b(?:[A-Z]{1,2}\d[A-Z\d]?|GIR) \d[ABD-HJLNP-UW-Z]{2}\b",
        check: Check::Whole,
        replace: "[postcode]",
    },
];

/// IBAN lengths by country (the SWIFT IBAN registry): a run of letters and digits that merely
/// passes mod-97 (1 in 97 do) is not an IBAN unless it also has its country's length.
pub const IBAN_LENGTHS: &[(&str, usize)] = &[
    ("AD", 24),
    ("AE", 23),
    ("AL", 28),
    ("AT", 20),
    ("AZ", 28),
    ("BA", 20),
    ("BE", 16),
    ("BG", 22),
    ("BH", 22),
    ("BI", 27),
    ("BR", 29),
    ("BY", 28),
    ("CH", 21),
    ("CR", 22),
    ("CY", 28),
    ("CZ", 24),
    ("DE", 22),
    ("DJ", 27),
    ("DK", 18),
    ("DO", 28),
    ("EE", 20),
    ("EG", 29),
    ("ES", 24),
    ("FI", 18),
    ("FK", 18),
    ("FO", 18),
    ("FR", 27),
    ("GB", 22),
    ("GE", 22),
    ("GI", 23),
    ("GL", 18),
    ("GR", 27),
    ("GT", 28),
    ("HN", 28),
    ("HR", 21),
    ("HU", 28),
    ("IE", 22),
    ("IL", 23),
    ("IQ", 23),
    ("IS", 26),
    ("IT", 27),
    ("JO", 30),
    ("KW", 30),
    ("KZ", 20),
    ("LB", 28),
    ("LC", 32),
    ("LI", 21),
    ("LT", 20),
    ("LU", 20),
    ("LV", 21),
    ("LY", 25),
    ("MC", 27),
    ("MD", 24),
    ("ME", 22),
    ("MK", 19),
    ("MN", 20),
    ("MR", 27),
    ("MT", 31),
    ("MU", 30),
    ("NI", 28),
    ("NL", 18),
    ("NO", 15),
    ("OM", 23),
    ("PK", 24),
    ("PL", 28),
    ("PS", 29),
    ("PT", 25),
    ("QA", 29),
    ("RO", 24),
    ("RS", 22),
    ("RU", 33),
    ("SA", 24),
    ("SC", 31),
    ("SD", 18),
    ("SE", 24),
    ("SI", 19),
    ("SK", 24),
    ("SM", 27),
    ("SO", 23),
    ("ST", 25),
    ("SV", 28),
    ("TL", 23),
    ("TN", 24),
    ("TR", 26),
    ("UA", 29),
    ("VA", 22),
    ("VG", 24),
    ("XK", 20),
    ("YE", 30),
];

/// What kind of value follows a label, and so how far the label reaches.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LabelValue {
    /// A date, in any common spelling, within 40 characters after the label (the text
    /// between may name the person: "date of birth for Jane Roe: 31/01/1970").
    Date,
    /// A token with a digit in it (4 characters or more) right after the label, which may
    /// end in `no.`, `number` or `#`, and be followed by `:`, `is` or `was`.
    Id,
    /// Words after `label:` or `label=`, up to the end of the clause (`,` `;` a bracket or a
    /// word such as "not" or "failed") and at most 6.
    Name,
    /// As `Name`, but through commas and up to 12 words.
    Address,
}

pub struct LabelRule {
    pub category: &'static str,
    /// Matched as whole words, ignoring case; a space matches any run of white space.
    pub labels: &'static [&'static str],
    pub value: LabelValue,
    /// How the value found taints the rest of the event (and later events).
    pub taint: Taint,
}

/// Free text that labels a personal value: the value becomes `"[Filtered]"` with no key to
/// catch it by, and taints the event as a value removed by key does.
pub const LABEL_RULES: &[LabelRule] = &[
    LabelRule {
        category: "date of birth",
        value: LabelValue::Date,
        taint: Taint::Whole,
        labels: &[
            "date of birth",
            "dob",
            "d.o.b",
            "birth date",
            "birthdate",
            "birthday",
            "born",
        ],
    },
    LabelRule {
        category: "passport or national id number",
        value: LabelValue::Id,
        taint: Taint::Whole,
        labels: &[
            "passport",
            "NI number",
            "NI no",
            "NINO",
            "national insurance",
            "national id",
            "national identity",
            "identity card",
            "ID card",
            "identity document",
            "travel document",
            "SSN",
            "social security",
            "driving licence",
            "driver's license",
            "tax id",
        ],
    },
    LabelRule {
        category: "name (after `:` or `=`)",
        value: LabelValue::Name,
        taint: Taint::Words,
        labels: &[
            "name",
            "full name",
            "first name",
            "last name",
            "surname",
            "forename",
            "forenames",
            "given name",
            "family name",
            "maiden name",
            "alias",
        ],
    },
    LabelRule {
        category: "address (after `:` or `=`)",
        value: LabelValue::Address,
        taint: Taint::Whole,
        labels: &[
            "address",
            "home address",
            "residential address",
            "street address",
        ],
    },
];

/// Words that end a labelled name or address: the sentence goes on ("name: Jane Roe not
/// matched").
pub const LABEL_STOP_WORDS: &[&str] = &[
    "is", "was", "were", "not", "failed", "failing", "could", "cannot", "does", "did", "has",
    "had", "have", "matched", "returned", "rejected", "found", "in", "on", "at", "for", "from",
    "to", "with", "by", "status", "retry", "retried",
];

/// Words too common to taint on their own when a name is split into words.
pub const NAME_WORDS_KEPT: &[&str] = &[
    "mr", "mrs", "ms", "miss", "mx", "dr", "prof", "sir", "dame", "lord", "lady", "the", "and",
    "of", "de", "da", "del", "della", "di", "du", "van", "von", "der", "den", "la", "le", "bin",
    "bint", "binti", "ibn", "al", "el", "jr", "sr", "ii", "iii", "unknown", "null", "none", "n/a",
];

#[cfg(test)]
mod tests {
    use super::*;

    /// The README's "What is scrubbed" section is what reviewers read; it must list every rule.
    #[test]
    fn readme_lists_the_whole_policy() {
        let readme = include_str!("../../README.md");
        let start = readme
            .find("## What is scrubbed")
            .expect("README has a What is scrubbed section");
        let section = &readme[start..];
        let section = &section[..section[3..].find("\n## ").map_or(section.len(), |i| i + 3)];
        let listed = |s: &str| section.contains(&format!("`{s}`"));
        for rule in KEY_RULES {
            assert!(
                section.contains(rule.category),
                "README lacks {}",
                rule.category
            );
            for key in rule.keys {
                assert!(listed(key), "README lacks key `{key}` ({})", rule.category);
            }
        }
        for key in TECHNICAL_KEYS
            .iter()
            .chain(COOKIE_KEYS.iter().filter(|k| **k != "setcookie"))
        {
            assert!(listed(key), "README lacks kept key `{key}`");
        }
        for rule in VALUE_RULES {
            assert!(
                section.contains(&format!("| {} | `{}` |", rule.name, rule.replace)),
                "README lacks value rule {}",
                rule.name
            );
        }
        for rule in LABEL_RULES {
            assert!(
                section.contains(&format!("| {} |", rule.category)),
                "README lacks label rule {}",
                rule.category
            );
            for label in rule.labels {
                assert!(
                    listed(label),
                    "README lacks label `{label}` ({})",
                    rule.category
                );
            }
        }
    }
}
