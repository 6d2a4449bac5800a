//! The recurrent nets of the sequence claims.
