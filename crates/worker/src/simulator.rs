//! An OpenAI-compatible model simulator.
