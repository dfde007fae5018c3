module.exports = {
  displayName: 'change-feed-consumer',
  preset: '../../jest.preset.js',
  rootDir: __dirname,
};
