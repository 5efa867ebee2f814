#!/usr/bin/env node
// bin/www as express-generator writes it, shortened: require the app, listen.
const http = require('node:http');
const app = require('../app.cjs');

const server = http.createServer(app);
server.listen(Number(process.env.PORT || 3000), '127.0.0.1', () => {
  console.log(`Listening on http://127.0.0.1:${server.address().port}`);
});
