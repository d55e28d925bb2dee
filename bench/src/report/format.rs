//! How numbers are written in the report.

/// `23,456/s`.
pub(super) fn rps(value: f64) -> String {
    format!("{}/s", thousands(value.round() as u64))
}

/// `87 µs`, `1.24 ms`, `153 ms`; `–` when unknown.
pub(super) fn us(value: f64) -> String {
    if !value.is_finite() {
        "–".to_owned()
    } else if value < 1_000.0 {
        format!("{value:.0} µs")
    } else if value < 100_000.0 {
        format!("{:.2} ms", value / 1_000.0)
    } else {
        format!("{:.0} ms", value / 1_000.0)
    }
}

/// `7.3 MiB` from KiB.
pub(super) fn mib(kib: u64) -> String {
    format!("{:.1} MiB", kib as f64 / 1024.0)
}

/// `1,234,567`.
pub(super) fn thousands(value: u64) -> String {
    let digits = value.to_string();
    let mut out = String::with_capacity(digits.len() + digits.len() / 3);
    for (i, ch) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(ch);
    }
    out
}

/// `met`, `**missed**` or `not measured`.
pub(super) fn verdict(met: Option<bool>) -> &'static str {
    match met {
        Some(true) => "met",
        Some(false) => "**missed**",
        None => "not measured",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers() {
        assert_eq!(thousands(0), "0");
        assert_eq!(thousands(999), "999");
        assert_eq!(thousands(1_234_567), "1,234,567");
        assert_eq!(rps(20_000.4), "20,000/s");
        assert_eq!(us(87.4), "87 µs");
        assert_eq!(us(1_240.0), "1.24 ms");
        assert_eq!(us(153_000.0), "153 ms");
        assert_eq!(us(f64::NAN), "–");
        assert_eq!(mib(7475), "7.3 MiB");
    }
}
