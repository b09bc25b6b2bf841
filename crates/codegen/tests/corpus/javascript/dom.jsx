import React, { useState, useEffect } from "react";

const helpers = {
  format(value) {
    return String(value);
  },
};

function useDebounced(value, delay) {
  const [debounced, setDebounced] = useState(value);
  useEffect(() => {
    const timer = setTimeout(() => setDebounced(value), delay);
    return () => clearTimeout(timer);
  }, [value, delay]);
  return debounced;
}

export function SearchBox({ onSearch, placeholder = "Search…" }) {
  const [query, setQuery] = useState("");
  const debounced = useDebounced(query, 300);

  useEffect(() => {
    if (debounced) onSearch(debounced);
  }, [debounced, onSearch]);

  return (
    <input
      value={query}
      placeholder={placeholder}
      onChange={(event) => setQuery(event.target.value)}
    />
  );
}

export const ResultList = ({ results }) => (
  <ul>
    {results.map((result) => (
      <li key={result.id}>{helpers.format(result.title)}</li>
    ))}
  </ul>
);

export default class SearchPage extends React.Component {
  state = { results: [] };

  constructor(props) {
    super(props);
    this.handleSearch = this.handleSearch.bind(this);
  }

  async handleSearch(query) {
    const response = await fetch(`/search?q=${encodeURIComponent(query)}`);
    this.setState({ results: await response.json() });
  }

  render() {
    return (
      <main>
        <SearchBox onSearch={this.handleSearch} />
        <ResultList results={this.state.results} />
      </main>
    );
  }
}
