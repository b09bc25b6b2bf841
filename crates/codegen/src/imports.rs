//! How a test file reaches the code under test, derived from the source's path and contents.
