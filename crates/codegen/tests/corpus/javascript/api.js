'use strict';

const https = require('https');

const DEFAULT_TIMEOUT = 5000;

// Sends a GET request and parses the JSON answer.
async function getJSON(url, { timeout = DEFAULT_TIMEOUT, headers } = {}) {
  const response = await fetch(url, { headers, signal: AbortSignal.timeout(timeout) });
  if (!response.ok) {
    throw new Error(`GET ${url}: ${response.status}`);
  }
  return response.json();
}

async function* paginate(url, pageSize) {
  let page = 1;
  while (true) {
    const items = await getJSON(`${url}?page=${page}&size=${pageSize}`);
    if (items.length === 0) {
      return;
    }
    yield* items;
    page += 1;
  }
}

function* range(start, end, step = 1) {
  for (let i = start; i < end; i += step) {
    yield i;
  }
}

class RateLimiter {
  constructor(perSecond) {
    this.interval = 1000 / perSecond;
    this.last = 0;
  }

  async wait() {
    const now = Date.now();
    const delay = Math.max(0, this.last + this.interval - now);
    this.last = now + delay;
    await new Promise((resolve) => setTimeout(resolve, delay));
  }

  static unlimited() {
    return new RateLimiter(Infinity);
  }
}

const retry = async (operation, attempts = 3) => {
  for (let attempt = 1; ; attempt += 1) {
    try {
      return await operation();
    } catch (error) {
      if (attempt >= attempts) throw error;
    }
  }
};

var legacyAgent = function () {
  return new https.Agent({ keepAlive: true });
};

module.exports = { getJSON, paginate, RateLimiter, retry };
exports.range = range;
