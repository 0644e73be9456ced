//! Exit codes, written down once: 0 ok, 1 error, 2 usage error, 3 findings
//! at or above `--fail-on`.

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Exit {
    Ok = 0,
    Error = 1,
    Usage = 2,
    Findings = 3,
}

impl From<Exit> for std::process::ExitCode {
    fn from(e: Exit) -> Self {
        std::process::ExitCode::from(e as u8)
    }
}

#[cfg(test)]
mod tests {
    use super::Exit;

    #[test]
    fn codes_are_the_documented_numbers() {
        assert_eq!(
            [Exit::Ok, Exit::Error, Exit::Usage, Exit::Findings].map(|e| e as u8),
            [0, 1, 2, 3]
        );
    }
}
