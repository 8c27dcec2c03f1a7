import { runConformanceSuite } from '@stabilize/core/testing';
import { sqliteFileFactory } from './support/factory.js';

runConformanceSuite(sqliteFileFactory);
