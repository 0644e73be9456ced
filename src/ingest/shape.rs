//! The input shapes kvaudit reads, named for messages and `--stats`.

/// The shapes kvaudit recognises, for messages and `--stats`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Shape {
    RawRecords,
    RawJsonLines,
    RawArray,
    LogAnalyticsApi,
    AzCliJson,
    FlatJsonArray,
    ValueWrapper,
    FlatJsonLines,
    AzureDiagnosticsCsv,
    AzkvAuditLogsCsv,
    /// Records pasted one after another (`{...}, {...}`), no array.
    PastedValues,
    /// A Parquet file (a lakehouse table, or `kvaudit events --format parquet`).
    Parquet,
}

impl Shape {
    /// Every shape, in the order messages list them.
    pub const ALL: [Shape; 12] = [
        Shape::RawRecords,
        Shape::RawJsonLines,
        Shape::RawArray,
        Shape::LogAnalyticsApi,
        Shape::AzCliJson,
        Shape::FlatJsonArray,
        Shape::ValueWrapper,
        Shape::FlatJsonLines,
        Shape::AzureDiagnosticsCsv,
        Shape::AzkvAuditLogsCsv,
        Shape::PastedValues,
        Shape::Parquet,
    ];

    /// The shapes tried, for the message about an unrecognised input.
    pub fn tried() -> String {
        let names: Vec<&str> = Self::ALL.iter().map(|s| s.name()).collect();
        format!(
            "{} (a CSV header must name OperationName)",
            names.join(", ")
        )
    }

    pub fn name(self) -> &'static str {
        match self {
            Shape::RawRecords => "raw diagnostic records ({\"records\":[...]})",
            Shape::RawJsonLines => "raw records as JSON Lines",
            Shape::RawArray => "raw records as a JSON array",
            Shape::LogAnalyticsApi => "Log Analytics query API response (tables/columns/rows)",
            Shape::AzCliJson => "az monitor log-analytics query JSON",
            Shape::FlatJsonArray => "exported rows as a JSON array",
            Shape::ValueWrapper => "exported rows as {\"value\":[...]}",
            Shape::FlatJsonLines => "exported rows as JSON Lines",
            Shape::AzureDiagnosticsCsv => "AzureDiagnostics CSV export",
            Shape::AzkvAuditLogsCsv => "AZKVAuditLogs CSV export",
            Shape::PastedValues => "JSON records pasted one after another ({...}, {...})",
            Shape::Parquet => {
                "Parquet (AZKVAuditLogs / AzureDiagnostics columns, or kvaudit's canonical events)"
            }
        }
    }
}
