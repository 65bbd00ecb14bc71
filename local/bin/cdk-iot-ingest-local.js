#!/usr/bin/env node
'use strict';
require('../lib/bin.js').run(process.argv.slice(2)).then((code) => process.exit(code));
